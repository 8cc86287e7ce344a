/**
 * The properties every `ReplicaStore` must have, as fast-check properties over a store adapter.
 * Each run drives a store the way group commit does and checks what a reopen hands back
 * against the model (model.ts). Faults a store kind cannot be dealt (no tear hook, no
 * corruption hook) skip the property that needs them, saying so.
 */
import fc from 'fast-check';
import type { Checkpoint, Effect } from '@vsr/core';
import type { ReplicaStore } from '@vsr/runtime';
import type { ConformanceOptions, StoreAdapter } from './adapter.js';
import {
  applyEffect,
  bootOf,
  canonical,
  canonicalBoot,
  cloneDurable,
  describeBoot,
  describeDurable,
  emptyDurable,
  moveArbitrary,
  type Durable,
  type Move,
} from './model.js';
import { applyMoves, bootsLost, check, drive, flushDriven, inSession, startFlush, type Driven, type Session } from './session.js';

export interface StoreProperty {
  /** A short stable name (for `only` filters and test names). */
  readonly name: string;
  /** What it shows, as a sentence. */
  readonly title: string;
  /** Why this adapter cannot run it (a fault hook it lacks), or null. */
  skipReason(adapter: StoreAdapter): string | null;
  property(adapter: StoreAdapter, options: ConformanceOptions): fc.IAsyncProperty<[unknown]>;
}

type Operation = Move | { readonly kind: 'flush' };

const operationsMaxOf = (options: ConformanceOptions): number => options.operationsMax ?? 40;

function movesAndFlushes(options: ConformanceOptions): fc.Arbitrary<Operation[]> {
  const operation: fc.Arbitrary<Operation> = fc.oneof(
    { weight: 5, arbitrary: moveArbitrary },
    { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
  );
  return fc.array(operation, { maxLength: operationsMaxOf(options) });
}

/** Carries out moves and flushes (each flush awaited, checkpoints included). */
async function run(driven: Driven, operations: readonly Operation[]): Promise<void> {
  for (const operation of operations) {
    if (operation.kind === 'flush') await flushDriven(driven);
    else applyMoves(driven, [operation]);
  }
}

/** A created store (its first header flushed), random moves and flushes, and a last flush of what is left. */
async function flushedStore<Place>(session: Session<Place>, operations: readonly Operation[]): Promise<{ place: Place; driven: Driven }> {
  const place = await session.place();
  const driven = await session.started(place);
  await run(driven, operations);
  await flushDriven(driven);
  return { place, driven };
}

const fresh: StoreProperty = {
  name: 'fresh',
  title: 'a store created with its cluster boots with nothing and no damage, until something is written; a place with no store boots as lost, and stays lost',
  skipReason: () => null,
  property: (adapter) =>
    fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }), (creates) =>
      inSession(adapter, async (session) => {
        const place = await session.place();
        const formed = creates[0] === true;
        for (const [index, create] of creates.entries()) {
          const store = await session.openAt(place, create);
          const { report } = store;
          const when = `open ${index + 1} (create: ${create})`;
          if (formed) {
            check(report.boot === null, () => `${when} of a store created and never written hands back ${describeBoot(report.boot)}, not nothing`);
            check(report.damage === null && !report.tornTail, () => `${when} of a store created and never written reports damage ${report.damage}, torn tail ${report.tornTail}`);
          } else {
            // A replica that has lost its store may have spoken: it must recover, never start as new.
            check(bootsLost(store), () => `${when} of a place that never held a store hands back ${describeBoot(report.boot)}, not lost`);
          }
          await session.close(store);
        }
      }),
    ),
};

const reopen: StoreProperty = {
  name: 'reopen',
  title: 'close then reopen hands back everything flushed, and nothing applied after the last flush',
  skipReason: () => null,
  property: (adapter, options) =>
    fc.asyncProperty(
      fc.record({ operations: movesAndFlushes(options), unflushed: fc.array(moveArbitrary, { maxLength: 6 }), creates: fc.tuple(fc.boolean(), fc.boolean()) }),
      ({ operations, unflushed, creates }) =>
        inSession(adapter, async (session) => {
          const { place, driven } = await flushedStore(session, operations);
          applyMoves(driven, unflushed);
          await session.close(driven.store);
          const reopened = await session.reopenExpecting(place, driven.durable, creates[0], 'closed and reopened');
          await session.close(reopened);
          await session.close(await session.reopenExpecting(place, driven.durable, creates[1], 'reopened a second time'));
        }),
    ),
};

type ContractOperation = Operation | { readonly kind: 'crash' };

const effectContract: StoreProperty = {
  name: 'effect-contract',
  title: 'random effects, flushes and crashes: a reopened store hands back exactly what was flushed (header, checkpoint, log base and entries), in order',
  skipReason: () => null,
  property: (adapter, options) => {
    const operation: fc.Arbitrary<ContractOperation> = fc.oneof(
      { weight: 12, arbitrary: moveArbitrary },
      { weight: 4, arbitrary: fc.constant({ kind: 'flush' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
    );
    return fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: operationsMaxOf(options) }), (operations) =>
      inSession(adapter, async (session) => {
        const place = await session.place();
        let driven = await session.started(place);
        for (const [index, op] of operations.entries()) {
          if (op.kind === 'crash') {
            await session.crash(driven.store);
            driven = drive(await session.reopenExpecting(place, driven.durable, false, `after the crash at operation ${index + 1}`), driven.durable);
          } else {
            await run(driven, [op]);
          }
        }
        await session.crash(driven.store);
        await session.close(await session.reopenExpecting(place, driven.durable, false, 'after the last crash'));
      }),
    );
  },
};

/** What a crash in the middle of a flush of `taken` may leave, header and log: before it, after it, or (ordered-prefix) between two of its effects. */
function statesAllowed(before: Durable, taken: readonly Effect[], adapter: StoreAdapter): Durable[] {
  const states = [cloneDurable(before)];
  const state = cloneDurable(before);
  for (const effect of taken) {
    applyEffect(state, effect);
    if (adapter.flushAtomicity === 'ordered-prefix') states.push(cloneDurable(state));
  }
  if (adapter.flushAtomicity !== 'ordered-prefix') states.push(cloneDurable(state));
  return states;
}

/** The checkpoints a crash in the middle of a flush may leave: the durable one, or any the flush wrote (each lands on its own). */
function checkpointsAllowed(before: Durable, taken: readonly Effect[]): Array<Checkpoint | null> {
  const written = taken.flatMap((effect) => (effect.kind === 'persist-checkpoint' ? [effect.checkpoint] : []));
  return [before.checkpoint, ...written];
}

/** Checks what a store reopened after a crash in the middle of a flush hands back. */
function checkAfterMidFlushCrash(store: ReplicaStore, before: Durable, taken: readonly Effect[], adapter: StoreAdapter): void {
  const { boot, damage } = store.report;
  check(damage === null, () => `a crash in the middle of a flush left damage: ${damage}`);
  check(boot !== null && !('lost' in boot), () => `a crash in the middle of a flush left a store that boots ${describeBoot(boot)}`);
  const checkpoint = boot.checkpoint ?? null;
  const checkpointOp = checkpoint?.opNumber ?? 0;
  const allowed = checkpointsAllowed(before, taken);
  check(
    allowed.some((candidate) => canonical(candidate) === canonical(checkpoint)),
    () => `the checkpoint handed back (op ${checkpoint?.opNumber ?? 'none'}) is neither the durable one nor one the flush wrote (${allowed.map((c) => c?.opNumber ?? 'none').join(', ')})`,
  );
  const found = { header: canonical(boot.header), log: canonical(boot.log) };
  const matching = statesAllowed(before, taken, adapter).filter((state) => canonical(state.header) === found.header && canonical(state.log.log) === found.log);
  const landing = adapter.flushAtomicity === 'ordered-prefix' ? 'an ordered prefix of the flush' : 'the state before the flush or after it';
  check(matching.length > 0, () => `a crash in the middle of a flush left ${describeBoot(boot)}: not ${landing} (before: ${describeDurable(before)})`);
  const first = boot.log[0]?.opNumber;
  check(first === undefined || first <= checkpointOp + 1, () => `ops ${checkpointOp + 1}..${(first ?? 0) - 1} are neither in the log nor covered by the checkpoint (op ${checkpointOp}): a release landed without its checkpoint`);
  check(
    matching.some((state) => state.log.base <= checkpointOp),
    () => `the log was released to op ${Math.min(...matching.map((state) => state.log.base))}, but the checkpoint handed back is at op ${checkpointOp}: a release landed without its checkpoint`,
  );
}

type MidFlushOperation =
  | Move
  | { readonly kind: 'flush'; readonly during: Move[] }
  /** `release`: the flush under way also releases the log (with the checkpoint that covers it), `release` ops back from its end. */
  | { readonly kind: 'crash-while-flushing'; readonly ticks: number; readonly release: number | null };

const pause = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Turns of the event loop between the start of a flush and the crash: often none or one (a flush's first I/O), sometimes more. */
const ticksArbitrary = fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constant(1) }, { weight: 2, arbitrary: fc.integer({ min: 2, max: 6 }) });

const crashMidFlush: StoreProperty = {
  name: 'crash-mid-flush',
  title: 'a crash in the middle of a flush: the flush lands whole or not at all (an ordered prefix, for a store that says so), effects applied during a flush wait for the next, and no release is durable without its checkpoint',
  skipReason: () => null,
  property: (adapter, options) => {
    const operation: fc.Arbitrary<MidFlushOperation> = fc.oneof(
      { weight: 4, arbitrary: moveArbitrary },
      { weight: 2, arbitrary: fc.array(moveArbitrary, { maxLength: 4 }).map((during) => ({ kind: 'flush' as const, during })) },
      {
        weight: 1,
        arbitrary: fc.record({ ticks: ticksArbitrary, release: fc.option(fc.nat({ max: 3 })) }).map((crash) => ({ kind: 'crash-while-flushing' as const, ...crash })),
      },
    );
    return fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: operationsMaxOf(options) }), (operations) =>
      inSession(adapter, async (session) => {
        const place = await session.place();
        const driven = await session.started(place);
        for (const op of operations) {
          if (op.kind === 'flush') {
            const flush = startFlush(driven);
            applyMoves(driven, op.during); // While the flush runs: not part of it.
            await flush.landed;
          } else if (op.kind === 'crash-while-flushing') {
            if (op.release !== null) applyMoves(driven, [{ kind: 'release', back: op.release }]);
            const [before, taken] = [cloneDurable(driven.durable), driven.pending];
            const writing = driven.store.dirty ? driven.store.flush() : Promise.resolve();
            for (let tick = 0; tick < op.ticks; tick++) await pause();
            await session.crash(driven.store, writing);
            const reopened = await session.openAt(place, false);
            checkAfterMidFlushCrash(reopened, before, taken, adapter);
            return; // What follows would have to guess which of the allowed states the store is in.
          } else {
            applyMoves(driven, [op]);
          }
        }
        await session.crash(driven.store);
        await session.close(await session.reopenExpecting(place, driven.durable, false, 'after the last crash'));
      }),
    );
  },
};

const tornTail: StoreProperty = {
  name: 'torn-tail',
  title: 'a torn last write: the reopened store drops the cut record, reports a torn tail, holds every earlier flush, and appends after it',
  skipReason: (adapter) => (adapter.tearTail === undefined ? `${adapter.name} has no tear hook (a store whose writes cannot be cut short has no torn tails)` : null),
  property: (adapter, options) =>
    fc.asyncProperty(fc.record({ operations: movesAndFlushes(options), choice: fc.nat(), requestBytes: fc.nat({ max: 160 }) }), ({ operations, choice, requestBytes }) =>
      inSession(adapter, async (session) => {
        const { place, driven } = await flushedStore(session, operations);
        const before = cloneDurable(driven.durable);
        applyMoves(driven, [{ kind: 'append', requestBytes }]);
        await flushDriven(driven); // The last write: one record.
        await session.close(driven.store);
        await adapter.tearTail?.(place, choice);
        const torn = await session.openAt(place, false);
        const { report } = torn;
        check(report.damage === null, () => `a torn tail was taken for damage: ${report.damage}`);
        check(report.tornTail, () => 'the store does not report the torn tail');
        check(canonicalBoot(report.boot) === canonicalBoot(bootOf(before)), () => `after the tear, the store hands back ${describeBoot(report.boot)}; before the torn write it held ${describeDurable(before)}`);
        const after = drive(torn, before);
        applyMoves(after, [{ kind: 'append', requestBytes }]);
        await flushDriven(after);
        await session.close(torn);
        await session.close(await session.reopenExpecting(place, after.durable, false, 'after an append that followed the torn tail'));
      }),
    ),
};

/** A damaged store: boots as lost, stays lost on the next open, and recovers once a header is written. */
async function checkRefused<Place>(session: Session<Place>, place: Place, store: ReplicaStore, create: boolean, what: string): Promise<void> {
  check(bootsLost(store), () => `the store reports damage (${store.report.damage}) but hands back ${describeBoot(store.report.boot)}, not lost (${what})`);
  await session.close(store);
  const again = await session.openAt(place, create);
  check(bootsLost(again), () => `the store refused as damaged hands back ${describeBoot(again.report.boot)} at the next open (create: ${create}), not lost: a replica that may have spoken would start as new (${what})`);
  // A recovery installs a log and writes a header: from then on the store boots normally.
  const recovering = drive(again, emptyDurable());
  applyMoves(recovering, [{ kind: 'truncate', back: 0 }, { kind: 'append', requestBytes: 8 }, { kind: 'append', requestBytes: 8 }, { kind: 'header', viewsAhead: 2, normalBehind: 0 }]);
  await flushDriven(recovering);
  await session.close(again);
  await session.close(await session.reopenExpecting(place, recovering.durable, false, `after a recovery wrote its header (${what})`));
}

/** A store that reports no damage after a corruption: it must hand back nothing changed (a dropped tail at most, reported). */
function checkNothingChanged(store: ReplicaStore, durable: Durable, what: string): void {
  const { boot, tornTail } = store.report;
  check(boot !== null && !('lost' in boot), () => `the store reports no damage but hands back ${describeBoot(boot)} (${what})`);
  check(canonical(boot.header) === canonical(durable.header), () => `a changed header handed back as good: ${canonical(boot.header)} (${what})`);
  check(canonical(boot.checkpoint ?? null) === canonical(durable.checkpoint), () => `a changed checkpoint handed back as good (${what})`);
  const flushed = durable.log.log;
  boot.log.forEach((entry, index) => check(canonical(entry) === canonical(flushed[index]), () => `a changed entry handed back as good at op ${entry.opNumber}: ${canonical(entry)} (${what})`));
  check(boot.log.length <= flushed.length, () => `the store hands back more entries than were flushed (${what})`);
  check(boot.log.length === flushed.length || tornTail, () => `the store dropped ops ${(flushed[boot.log.length]?.opNumber ?? 0)}.. without reporting damage or a torn tail (${what})`);
}

const corruption: StoreProperty = {
  name: 'corruption',
  title: 'corrupted durable data is detected: the store reports damage and boots as lost (and stays lost until a recovery writes a header), and never hands back changed data as good',
  skipReason: (adapter) => (adapter.corrupt === undefined ? `${adapter.name} has no corruption hook` : null),
  property: (adapter, options) =>
    fc.asyncProperty(fc.record({ operations: movesAndFlushes(options), choice: fc.nat(), create: fc.boolean() }), ({ operations, choice, create }) =>
      inSession(adapter, async (session) => {
        const { place, driven } = await flushedStore(session, operations);
        await session.close(driven.store);
        const what = (await adapter.corrupt?.(place, choice)) ?? 'nothing';
        const store = await session.openAt(place, false);
        if (store.report.damage !== null) return checkRefused(session, place, store, create, what);
        checkNothingChanged(store, driven.durable, what);
      }),
    ),
};

export const STORE_PROPERTIES: readonly StoreProperty[] = [fresh, reopen, effectContract, crashMidFlush, tornTail, corruption];
