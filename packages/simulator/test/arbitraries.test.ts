/**
 * Whole simulations under fast-check: the correct core passes generated
 * fault schedules and workloads; a planted bug is found and the failing
 * schedule shrinks to a handful of faults that still reproduce it.
 */
import { afterEach, expect, test, vi } from 'vitest';
import fc from 'fast-check';

const QUORUM = '../../core/src/quorum.ts';

afterEach(() => {
  vi.doUnmock(QUORUM);
  vi.resetModules();
});

test('generated fault schedules and workloads never break safety, liveness or convergence', async () => {
  const { simulate, faultScheduleArbitrary, workloadArbitrary } = await import('../src/index.js');
  fc.assert(
    fc.property(workloadArbitrary({ requestsMax: 120 }), faultScheduleArbitrary({ replicaCount: 3 }), (workload, schedule) => {
      const { summary } = simulate({ ...workload, replicaCount: 3, faults: ['network'], schedule });
      expect(summary.violations).toEqual([]);
    }),
    { numRuns: Number(process.env.VSR_PROPERTY_RUNS ?? 25) },
  );
});

test('with a planted bug, fast-check finds a failing schedule and shrinks it to a few faults', async () => {
  vi.resetModules();
  vi.doMock(QUORUM, async (importOriginal) => ({
    ...(await importOriginal<typeof import('../../core/src/quorum.js')>()),
    chooseLog: <V>(votes: readonly V[]) => votes[0]!,
  }));
  const { simulate, faultScheduleArbitrary } = await import('../src/index.js');
  const run = (schedule: Parameters<typeof simulate>[0]['schedule']) =>
    simulate({ seed: 1, replicaCount: 3, clientCount: 3, requests: 60, faults: ['none'], schedule }).summary;
  const details = fc.check(
    fc.property(faultScheduleArbitrary({ replicaCount: 3, horizonMs: 600 }), (schedule) => run(schedule).violations.length === 0),
    { numRuns: 200, seed: 7 },
  );
  expect(details.failed).toBe(true);
  const [shrunk] = details.counterexample!;
  console.log(`shrunk failing schedule after ${details.numShrinks} shrinks: ${JSON.stringify(shrunk)}`);
  expect(shrunk.length).toBeLessThanOrEqual(4);
  expect(run(shrunk).violations.length).toBeGreaterThan(0);
});
