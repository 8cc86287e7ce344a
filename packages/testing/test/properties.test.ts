import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { recorderMachine, runSchedule, scheduleArbitrary } from '../src/index.js';

for (const [replicaCount, checkpointIntervalOps] of [
  [3, 1024],
  [5, 1024],
  [3, 3],
  [5, 4],
] as const) {
  describe(`random schedules on ${replicaCount} replicas, a checkpoint every ${checkpointIntervalOps} ops`, () => {
    const options = { replicaCount, clientCount: 3, actionsMax: 300, machine: recorderMachine, limits: { checkpointIntervalOps } };
    test('agreement, durability of acknowledged ops, exactly-once execution, liveness after healing, convergence', () => {
      let completed = 0;
      fc.assert(
        fc.property(scheduleArbitrary(options), (actions) => {
          const outcome = runSchedule(actions, options);
          completed += outcome.completedRequests;
          expect(outcome.settled).toBe(true);
        }),
        { numRuns: Number(process.env.VSR_PROPERTY_RUNS ?? (replicaCount === 3 ? 150 : 80)) },
      );
      // The schedules must exercise the protocol, not idle: clients complete requests.
      console.log(`${replicaCount} replicas: ${completed} requests completed`);
      expect(completed).toBeGreaterThan(options.replicaCount === 3 ? 150 : 80);
    }, 600_000);
  });
}
