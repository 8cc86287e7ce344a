/**
 * The suite against a reference store written to the contract (it passes every property), and
 * against the same store with one bug planted at a time (each fails the property that guards
 * against it, with fast-check's seed and counterexample in the message): the suite has teeth.
 */
import { describe, expect, test } from 'vitest';
import {
  STORE_PROPERTIES,
  StoreConformanceError,
  checkStoreConformance,
  checkStoreProperty,
  describeStoreConformance,
  type StoreAdapter,
  type StoreProperty,
} from '../src/index.js';
import { referenceAdapter, type Bugs } from './reference-store.js';

const log = (line: string) => console.log(line);

const propertyNamed = (name: string): StoreProperty => {
  const found = STORE_PROPERTIES.find((property) => property.name === name);
  if (found === undefined) throw new Error(`no property ${name}`);
  return found;
};

/** The error a property throws against `adapter`, or null if it passed. */
async function failureOf(adapter: StoreAdapter, name: string, numRuns: number): Promise<StoreConformanceError | null> {
  try {
    await checkStoreProperty(adapter, propertyNamed(name), { numRuns, log });
    return null;
  } catch (error) {
    if (error instanceof StoreConformanceError) return error;
    throw error;
  }
}

describe('the conformance suite', () => {
  test('the reference store passes every property', async () => {
    const outcomes = await checkStoreConformance(referenceAdapter(), { numRuns: 60, log });
    expect(outcomes.map((outcome) => [outcome.property, outcome.skipped, outcome.numRuns])).toEqual(STORE_PROPERTIES.map((property) => [property.name, null, 60]));
  }, 60_000);

  const planted: Array<[string, Bugs, string, RegExp]> = [
    ['drops the last append of a flush', { dropsLastAppend: true }, 'effect-contract', /hands back .*; what was flushed is/],
    ['lands a release before its checkpoint', { releaseBeforeCheckpoint: true }, 'crash-mid-flush', /a release landed without its checkpoint/],
    ['does not check checksums', { trustsChecksums: true }, 'corruption', /handed back as good/],
    ['forgets that a refused store is lost', { forgetsLost: true }, 'corruption', /not lost: a replica that may have spoken would start as new/],
    ['drops a torn tail without saying so', { hidesTornTail: true }, 'torn-tail', /does not report the torn tail/],
    ['wipes a store opened with create', { createWipes: true }, 'reopen', /reopened( a second time)?, the store hands back nothing \(a new replica\)/],
  ];
  test.each(planted)('a store that %s fails, with the seed and the counterexample', async (_, bugs, name, problem) => {
    const failure = await failureOf(referenceAdapter(bugs, 'a broken store'), name, 300);
    expect(failure, `the suite did not catch it`).not.toBeNull();
    expect(failure?.message).toMatch(problem);
    expect(failure?.message).toMatch(/^a broken store fails ".+" \(seed -?\d+\)/);
    expect(failure?.message).toMatch(/Counterexample: /);
    expect(failure?.message).toMatch(/\{ seed: -?\d+, path: "[\d:]+"/);
  }, 60_000);

  test('a store whose flush lands piecemeal fails as a whole-flush store, and passes as an ordered-prefix one', async () => {
    const adapter = referenceAdapter({ landsPiecemeal: true }, 'a piecemeal store');
    const asWhole = await failureOf({ ...adapter, flushAtomicity: 'whole' }, 'crash-mid-flush', 300);
    expect(asWhole?.message).toMatch(/not the state before the flush or after it/);
    expect(await failureOf(adapter, 'crash-mid-flush', 100)).toBeNull();
  }, 60_000);

  test('a failure replays from its seed and path', async () => {
    const adapter = referenceAdapter({ dropsLastAppend: true }, 'a broken store');
    const failure = await failureOf(adapter, 'effect-contract', 300);
    const [, seed, path] = /\{ seed: (-?\d+), path: "([\d:]+)"/.exec(failure?.message ?? '') ?? [];
    expect(seed).toBeDefined();
    const replayed = await checkStoreProperty(adapter, propertyNamed('effect-contract'), { seed: Number(seed), path, numRuns: 1, log }).catch((error: unknown) => error);
    expect(replayed).toBeInstanceOf(StoreConformanceError);
    expect((replayed as Error).message).toContain(`seed: ${seed}, path: "${path}"`);
  }, 60_000);

  test('a property whose fault hook the adapter lacks is skipped, saying why; the others run', async () => {
    const withoutFaults = { ...referenceAdapter(), tearTail: undefined, corrupt: undefined };
    const lines: string[] = [];
    const outcomes = await checkStoreConformance(withoutFaults, { numRuns: 3, log: (line) => lines.push(line) });
    expect(outcomes.filter((outcome) => outcome.skipped !== null).map((outcome) => [outcome.property, outcome.skipped])).toEqual([
      ['torn-tail', 'the reference memory store has no tear hook (a store whose writes cannot be cut short has no torn tails)'],
      ['corruption', 'the reference memory store has no corruption hook'],
    ]);
    expect(lines.filter((line) => /: seed -?\d+, 3 runs, passed$/.test(line))).toHaveLength(4);
  });

  test('checkStoreConformance names every property that failed', async () => {
    const failure = await checkStoreConformance(referenceAdapter({ trustsChecksums: true, hidesTornTail: true }, 'a broken store'), { numRuns: 300, log, only: ['torn-tail', 'corruption'] }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StoreConformanceError);
    expect((failure as Error).message).toMatch(/fails "a torn last write.*; corrupted durable data is detected/);
  }, 60_000);

  test('describeStoreConformance registers one test per property, skipped ones as skipped', async () => {
    const registered: Array<{ name: string; kind: 'test' | 'skip'; timeoutMs?: number | undefined; body: () => Promise<void> }> = [];
    const suites: string[] = [];
    const withoutTear = { ...referenceAdapter(), tearTail: undefined };
    describeStoreConformance(withoutTear, { numRuns: 2, log: () => {}, timeoutMs: 5_000 }, {
      describe: (name, body) => {
        suites.push(name);
        body();
      },
      test: (name, body, timeoutMs) => registered.push({ name, kind: 'test', timeoutMs, body }),
      skip: (name, body) => registered.push({ name, kind: 'skip', body }),
    });
    expect(suites).toEqual(['the reference memory store conforms to the ReplicaStore contract']);
    expect(registered.map((entry) => [entry.name.split(':')[0], entry.kind])).toEqual(STORE_PROPERTIES.map((property) => [property.name, property.name === 'torn-tail' ? 'skip' : 'test']));
    expect(registered.find((entry) => entry.kind === 'skip')?.name).toMatch(/\(the reference memory store has no tear hook/);
    expect(registered[0]?.timeoutMs).toBe(5_000);
    for (const entry of registered.filter((candidate) => candidate.kind === 'test')) await entry.body();
  }, 30_000);
});
