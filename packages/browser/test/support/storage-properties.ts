/**
 * The IndexedDB store's two fast-check properties, written once and run on two backends:
 * fake-indexeddb in Node (storage.test.ts) and Chromium's own IndexedDB, bundled into a page
 * (chromium/storage.test.ts). Plain code with no test framework, so that it runs in a browser:
 * a property fails by throwing, and each result carries fast-check's report (seed, path and
 * the shrunk counterexample).
 *
 * - Random effects, flushes and crashes: a reopened store holds exactly what was flushed.
 * - Effects during flushes and crashes in the middle of one: a flush lands whole or not at all,
 *   and no release overtakes its checkpoint.
 */
import fc from 'fast-check';
import type { Checkpoint, Effect, LogEntry } from '@vsr/core';
import { IndexedDbStorage } from '../../src/storage.js';

/** Where one property run keeps its database: a fresh factory (fake-indexeddb), or a fresh name prefix (a real browser). */
export interface Backend {
  readonly indexedDB: IDBFactory;
  readonly namePrefix: string;
}

export interface PropertyOutcome {
  readonly name: string;
  readonly failed: boolean;
  readonly numRuns: number;
  /** fast-check's report when it failed: the seed, the path and the shrunk counterexample. */
  readonly report: string | null;
}

export const entry = (opNumber: number, viewNumber = 0): LogEntry => ({
  opNumber,
  viewNumber,
  timestampMs: opNumber,
  requests: [{ clientId: 'c', requestNumber: opNumber, operation: { type: 'write', key: 'k', value: opNumber } }],
});
export const append = (opNumber: number, viewNumber = 0): Effect => ({ kind: 'log-append', entry: entry(opNumber, viewNumber) });
export const header = (viewNumber: number, lastNormalView = viewNumber): Effect => ({ kind: 'persist-header', header: { viewNumber, lastNormalView } });
export const checkpointAt = (opNumber: number): Checkpoint => ({
  opNumber,
  viewNumber: 0,
  timestampMs: opNumber,
  snapshot: [['k', opNumber]],
  clientTable: [['c', { requestNumber: opNumber, result: { ok: true }, opNumber }]],
});
/** What a store should hold: the entries after op `base`, the view of its header, its checkpoint's op. */
export type Model = { base: number; log: number[]; view: number; checkpoint: number };
type ModelEffect = { kind: 'append' } | { kind: 'truncate'; back: number } | { kind: 'release'; back: number } | { kind: 'header'; view: number };

/** Applies an effect to the store and to the model alike; a release comes with its checkpoint, as from the core. */
export function applyTo(storage: IndexedDbStorage, model: Model, op: ModelEffect): void {
  const last = model.base + model.log.length;
  if (op.kind === 'append') {
    storage.apply(append(last + 1));
    model.log.push(last + 1);
  } else if (op.kind === 'truncate') {
    const to = Math.max(0, last - op.back);
    storage.apply({ kind: 'log-truncate', opNumber: to });
    if (to < model.base) Object.assign(model, { base: to, log: [] });
    else model.log.length = Math.min(model.log.length, to - model.base);
  } else if (op.kind === 'release') {
    const to = Math.max(0, last - op.back);
    if (to <= model.checkpoint) return;
    storage.apply({ kind: 'persist-checkpoint', checkpoint: checkpointAt(to) });
    storage.apply({ kind: 'log-release', opNumber: to });
    model.checkpoint = to;
    if (to > model.base) {
      model.log = model.log.slice(Math.min(model.log.length, to - model.base));
      model.base = to;
    }
  } else {
    storage.apply(header(op.view));
    model.view = op.view;
  }
}

/** Appends most of the time, so that logs grow long enough for truncations and releases to matter. */
export const modelEffect: fc.Arbitrary<ModelEffect> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: 'append' as const }) },
  { weight: 1, arbitrary: fc.nat({ max: 8 }).map((back) => ({ kind: 'truncate' as const, back })) },
  { weight: 1, arbitrary: fc.nat({ max: 8 }).map((back) => ({ kind: 'release' as const, back })) },
  { weight: 1, arbitrary: fc.nat({ max: 5 }).map((view) => ({ kind: 'header' as const, view })) },
);

export const bootOf = (model: Model) => ({
  header: { viewNumber: model.view, lastNormalView: model.view },
  checkpoint: model.checkpoint === 0 ? null : checkpointAt(model.checkpoint),
  log: model.log.map((opNumber) => entry(opNumber)),
});

/** Throws (failing the property) unless `condition` holds. */
function check(condition: boolean, message: () => string): void {
  if (!condition) throw new Error(message());
}

/** JSON with object keys sorted: equal values, equal text, whatever order their fields were set in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : inner,
  );
}

function open(backend: Backend, create = false): Promise<IndexedDbStorage> {
  return IndexedDbStorage.open({ cluster: 0, replicaId: 0, create, indexedDB: backend.indexedDB, namePrefix: backend.namePrefix, nonce: () => 7 });
}

async function expectBoot(backend: Backend, durable: Model): Promise<void> {
  const reopened = await open(backend);
  check(reopened.report.damage === null, () => `a clean store reopened as damaged: ${canonical(reopened.report.damage)}`);
  const [found, wanted] = [canonical(reopened.report.boot), canonical(bootOf(durable))];
  check(found === wanted, () => `reopened to ${found}, but what was flushed is ${wanted}`);
  await reopened.close();
}

/** A store just created, its header written and flushed. */
async function started(backend: Backend): Promise<IndexedDbStorage> {
  const storage = await open(backend, true);
  check(storage.report.boot === null, () => 'a store just created handed back something to boot from');
  storage.apply(header(0));
  await storage.flush();
  return storage;
}

const flushesAndCrashes = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: modelEffect },
    { weight: 2, arbitrary: fc.constant({ kind: 'flush' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
  ),
  { minLength: 5, maxLength: 60 },
);

/** Random effects, flushes and crashes: a reopened store holds exactly what was flushed. */
function flushedIsDurable(newBackend: () => Backend) {
  return fc.asyncProperty(flushesAndCrashes, async (operations) => {
    const backend = newBackend();
    let storage = await started(backend);
    let durable: Model = { base: 0, log: [], view: 0, checkpoint: 0 };
    let buffered = structuredClone(durable);
    for (const op of operations) {
      if (op.kind === 'flush') {
        await storage.flush();
        await storage.settle(); // Checkpoints are written in the background.
        durable = structuredClone(buffered);
      } else if (op.kind === 'crash') {
        storage.crash();
        storage = await open(backend);
        check(storage.report.damage === null, () => `a crash left damage: ${canonical(storage.report.damage)}`);
        buffered = structuredClone(durable);
      } else {
        applyTo(storage, buffered, op);
      }
    }
    storage.crash();
    await expectBoot(backend, durable);
  });
}

const flushesUnderWay = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: modelEffect },
    { weight: 2, arbitrary: fc.array(modelEffect, { maxLength: 4 }).map((during) => ({ kind: 'flush' as const, during })) },
    { weight: 1, arbitrary: fc.nat({ max: 3 }).map((ticks) => ({ kind: 'crash-while-flushing' as const, ticks })) },
  ),
  { minLength: 5, maxLength: 40 },
);

/** A crash while a flush is under way: the store reopens to the state before it or after it, nothing in between, and its log is never released past its checkpoint. */
async function crashWhileFlushing(backend: Backend, storage: IndexedDbStorage, possible: readonly Model[], ticks: number): Promise<void> {
  const writing = storage.flush().catch(() => 'aborted');
  for (let tick = 0; tick < ticks; tick++) await new Promise((resolve) => setTimeout(resolve, 0));
  storage.crash(); // The transaction under way lands whole, or is aborted: nothing in between.
  await writing;
  const reopened = await open(backend);
  check(reopened.report.damage === null, () => `a crash during a flush left damage: ${canonical(reopened.report.damage)}`);
  const boot = reopened.report.boot as { header: { viewNumber: number }; checkpoint: Checkpoint | null; log: LogEntry[] };
  const log = canonical(boot.log.map((e) => e.opNumber));
  const found = possible.find((model) => model.view === boot.header.viewNumber && canonical(model.log) === log);
  check(found !== undefined, () => `reopened to view ${boot.header.viewNumber}, log ${log}: neither before nor after the flush`);
  const checkpointOp = boot.checkpoint?.opNumber ?? 0;
  check(possible.some((model) => model.checkpoint === checkpointOp), () => `reopened with the checkpoint at op ${checkpointOp}, which no flush wrote`);
  check((found?.base ?? 0) <= checkpointOp, () => `the log was released past op ${found?.base ?? 0}, but the checkpoint is only at op ${checkpointOp}`);
  await reopened.close();
}

/** Random effects, effects during flushes and crashes in the middle of one. */
function flushLandsWhole(newBackend: () => Backend) {
  return fc.asyncProperty(flushesUnderWay, async (operations) => {
    const backend = newBackend();
    const storage = await started(backend);
    let durable: Model = { base: 0, log: [], view: 0, checkpoint: 0 };
    const buffered: Model = structuredClone(durable);
    for (const op of operations) {
      if (op.kind === 'flush') {
        const flushed = structuredClone(buffered);
        const writing = storage.flush();
        for (const during of op.during) applyTo(storage, buffered, during);
        await writing;
        await storage.settle();
        durable = flushed;
      } else if (op.kind === 'crash-while-flushing') {
        return crashWhileFlushing(backend, storage, [structuredClone(durable), structuredClone(buffered)], op.ticks);
      } else {
        applyTo(storage, buffered, op);
      }
    }
    storage.crash();
    await expectBoot(backend, durable);
  });
}

/** Runs both properties (fast-check's `check`: a failure is reported, not thrown). */
export async function checkStorageProperties(newBackend: () => Backend, options: { readonly numRuns: number; readonly seed?: number }): Promise<PropertyOutcome[]> {
  const outcomes: PropertyOutcome[] = [];
  const run = async (name: string, property: fc.IAsyncProperty<[unknown[]]>) => {
    const details = await fc.check(property, { numRuns: options.numRuns, ...(options.seed === undefined ? {} : { seed: options.seed }) });
    outcomes.push({ name, failed: details.failed, numRuns: details.numRuns, report: details.failed ? (fc.defaultReportMessage(details) ?? 'failed') : null });
  };
  await run('random effects, flushes and crashes: a reopened store holds exactly what was flushed', flushedIsDurable(newBackend));
  await run('effects during flushes and crashes in the middle of one: a flush lands whole or not at all', flushLandsWhole(newBackend));
  return outcomes;
}
