/**
 * fast-check arbitraries over whole simulations: fault schedules and
 * workloads. Shrinking removes faults, moves them earlier and shortens them,
 * and shrinks the workload, so a failing simulation comes back small.
 *
 *   fc.assert(fc.property(workloadArbitrary(), faultScheduleArbitrary({ replicaCount: 3 }), (workload, schedule) =>
 *     simulate({ ...workload, replicaCount: 3, faults: ['network'], schedule }).summary.violations.length === 0));
 */
import fc from 'fast-check';
import type { ScheduledFault } from './simulation.js';

export interface ScheduleArbitraryOptions {
  readonly replicaCount: number;
  /** Faults happen within this much simulated time (default 3000 ms). */
  readonly horizonMs?: number;
  /** At most this many faults (default 20). */
  readonly faultsMax?: number;
}

export function faultScheduleArbitrary(options: ScheduleArbitraryOptions): fc.Arbitrary<ScheduledFault[]> {
  const replica = fc.integer({ min: 0, max: options.replicaCount - 1 });
  const atMs = fc.integer({ min: 0, max: options.horizonMs ?? 3000 });
  const link = fc.tuple(replica, replica);
  const fault: fc.Arbitrary<ScheduledFault> = fc.oneof(
    fc.record({ atMs, kind: fc.constant('crash' as const), replica }),
    fc.record({ atMs, kind: fc.constant('restart' as const), replica }),
    fc.record({ atMs, kind: fc.constant('wipe' as const), replica }),
    fc.record({
      atMs,
      kind: fc.constant('partition' as const),
      blocked: fc.array(link, { minLength: 1, maxLength: options.replicaCount * 2 }),
      durationMs: fc.integer({ min: 1, max: 2000 }),
    }),
  );
  return fc
    .array(fault, { maxLength: options.faultsMax ?? 20 })
    .map((faults) => [...faults].sort((a, b) => a.atMs - b.atMs));
}

export interface WorkloadArbitraryOptions {
  readonly clientsMax?: number;
  readonly requestsMax?: number;
}

/** A seed (for the network and the clients' choices), a number of clients and of requests. */
export function workloadArbitrary(
  options: WorkloadArbitraryOptions = {},
): fc.Arbitrary<{ seed: number; clientCount: number; requests: number }> {
  return fc.record({
    seed: fc.integer({ min: 0, max: 0x7fff_ffff }),
    clientCount: fc.integer({ min: 1, max: options.clientsMax ?? 6 }),
    requests: fc.integer({ min: 1, max: options.requestsMax ?? 200 }),
  });
}
