/**
 * `@vsr/store-conformance`: the properties any `ReplicaStore` must have, run against a store
 * kind through a small adapter (how to open it on a fresh place, crash it, and, if it can be,
 * tear its last write or corrupt its data). Plain functions, no test framework: a property
 * fails by throwing a `StoreConformanceError` whose message holds fast-check's report (the
 * seed, the path and the shrunk counterexample), and each property prints its seed.
 *
 * ```ts
 * import { describeStoreConformance } from '@vsr/store-conformance';
 * describeStoreConformance(myAdapter, { numRuns: 25 }, { describe, test, skip: test.skip });
 * ```
 * or `await checkStoreConformance(myAdapter)` anywhere. See docs/storage.md.
 */
import fc from 'fast-check';
import { StoreConformanceError, type ConformanceOptions, type PropertyOutcome, type StoreAdapter } from './adapter.js';
import { STORE_PROPERTIES, type StoreProperty } from './properties.js';

export { StoreConformanceError, type ConformanceOptions, type FlushAtomicity, type PropertyOutcome, type StoreAdapter } from './adapter.js';
export { STORE_PROPERTIES, type StoreProperty } from './properties.js';
export { entryAt, checkpointAt } from './model.js';

const NUM_RUNS_DEFAULT = 25;

/** A seed for fast-check when none is given: printed, so a failure can be replayed. */
const drawSeed = (): number => (Date.now() ^ Math.floor(Math.random() * 0x7fff_ffff)) | 0;

const printLine = (line: string): void => console.log(line);

/**
 * Runs one property against the adapter. Resolves with its outcome (skipped, with the reason,
 * when the adapter lacks the fault hook it needs); throws a `StoreConformanceError` if it fails.
 */
export async function checkStoreProperty(adapter: StoreAdapter, property: StoreProperty, options: ConformanceOptions = {}): Promise<PropertyOutcome> {
  const log = options.log ?? printLine;
  const seed = options.seed ?? drawSeed();
  const numRuns = options.numRuns ?? NUM_RUNS_DEFAULT;
  const skipped = property.skipReason(adapter);
  if (skipped !== null) {
    log(`${adapter.name} · ${property.name}: skipped (${skipped})`);
    return { property: property.name, store: adapter.name, skipped, seed, numRuns: 0 };
  }
  const details = await fc.check(property.property(adapter, options), { numRuns, seed, includeErrorInReport: true, ...(options.path === undefined ? {} : { path: options.path }) });
  log(`${adapter.name} · ${property.name}: seed ${seed}, ${details.numRuns} runs, ${details.failed ? 'FAILED' : 'passed'}`);
  if (details.failed) throw new StoreConformanceError(property.title, adapter.name, seed, fc.defaultReportMessage(details) ?? 'failed');
  return { property: property.name, store: adapter.name, skipped: null, seed, numRuns: details.numRuns };
}

/** Runs every property (or those named in `only`); throws one error naming every property that failed. */
export async function checkStoreConformance(
  adapter: StoreAdapter,
  options: ConformanceOptions & { readonly only?: readonly string[] } = {},
): Promise<PropertyOutcome[]> {
  const outcomes: PropertyOutcome[] = [];
  const failures: StoreConformanceError[] = [];
  for (const property of STORE_PROPERTIES.filter((candidate) => options.only?.includes(candidate.name) ?? true)) {
    try {
      outcomes.push(await checkStoreProperty(adapter, property, options));
    } catch (error) {
      if (!(error instanceof StoreConformanceError)) throw error;
      failures.push(error);
    }
  }
  if (failures.length === 1 && failures[0] !== undefined) throw failures[0];
  if (failures.length > 1) {
    throw new StoreConformanceError(failures.map((failure) => failure.property).join('; '), adapter.name, failures[0]?.seed ?? 0, failures.map((failure) => failure.message).join('\n\n'));
  }
  return outcomes;
}

/** The few functions of a test framework the helper needs (vitest's and jest's fit). */
export interface TestFramework {
  readonly describe: (name: string, body: () => void) => void;
  readonly test: (name: string, body: () => Promise<void>, timeoutMs?: number) => void;
  /** Registers a skipped test (vitest's and jest's `test.skip`); without it, skipped properties are left out. */
  readonly skip?: (name: string, body: () => Promise<void>) => void;
}

/**
 * Registers one test per property in the framework given, under `describe(adapter.name)`.
 * `timeoutMs` is each test's timeout (default 120 s: real disks are slow and shrinking a
 * counterexample reruns the property many times).
 */
export function describeStoreConformance(
  adapter: StoreAdapter,
  options: ConformanceOptions & { readonly only?: readonly string[]; readonly timeoutMs?: number },
  framework: TestFramework,
): void {
  framework.describe(`${adapter.name} conforms to the ReplicaStore contract`, () => {
    for (const property of STORE_PROPERTIES.filter((candidate) => options.only?.includes(candidate.name) ?? true)) {
      const name = `${property.name}: ${property.title}`;
      const skipped = property.skipReason(adapter);
      const body = async () => void (await checkStoreProperty(adapter, property, options));
      if (skipped === null) framework.test(name, body, options.timeoutMs ?? 120_000);
      else framework.skip?.(`${name} (${skipped})`, body);
    }
  });
}
