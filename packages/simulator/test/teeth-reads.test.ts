/**
 * Reads without the log, in the simulator: correct code passes campaigns that send reads both
 * ways, and a planted bug (a primary that answers reads without confirming its view, so one
 * that was deposed without knowing it answers from an old state) is caught by the
 * linearizability checker.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { SimulationOptions } from '../src/index.js';
import { expectOnly, firstViolation as firstViolationOf } from './planted-support.js';

const READS = '../../core/src/reads.ts';
type Reads = typeof import('../../core/src/reads.js');
type Context = typeof import('../../core/src/context.js');
type DraftState = import('../../core/src/context.js').DraftState;
type StepContext = InstanceType<Context['StepContext']>;

const LINEARIZABILITY = /^linearizability: key k\d: /;
const DEFAULTS: Partial<SimulationOptions> = { reads: 'mixed', partialHealShare: 0 };
/** Partitions cut a primary off; lost messages send some clients to it after it was deposed. */
const STALE_READ_SETTING: Partial<SimulationOptions> = { faults: ['partition', 'network'], reads: 'direct' };
const firstViolation = (seedsMax: number, options: Partial<SimulationOptions> = {}) => firstViolationOf(seedsMax, DEFAULTS, options);

afterEach(() => {
  vi.doUnmock(READS);
  vi.resetModules();
});

describe('reads without the log in the simulator', () => {
  test.each([
    ['swarm', 3],
    ['network,partition,clock', 5],
    ['crash,wipe,partition', 3],
  ])('correct code: no violation in 25 seeds of %s faults, %i replicas, half the reads without the log', async (faults, replicaCount) => {
    const { simulate } = await import('../src/index.js');
    let direct = 0;
    for (let seed = 1; seed <= 25; seed++) {
      const { summary } = simulate({ seed, replicaCount, clientCount: 4, requests: 200, faults: faults.split(',') as SimulationOptions['faults'], reads: 'mixed' });
      expect(summary.violations, `seed ${seed}`).toEqual([]);
      direct += summary.reads_direct;
    }
    // The campaign must have sent reads the new way, or it proves nothing.
    expect(direct).toBeGreaterThan(200);
  });

  test('a primary that answers reads without confirming its view: a stale read, caught as non-linearizable', async () => {
    vi.resetModules();
    vi.doMock(READS, async (importOriginal) => {
      const original = await importOriginal<Reads>();
      return {
        ...original,
        onClientRead: (s: DraftState, ctx: StepContext, raw: unknown) => {
          const read = raw as { clientId: string; readNumber: number; query: unknown };
          const machineReads = ctx.machine.reads;
          if (s.status !== 'normal' || s.primary === null || machineReads === undefined) return original.onClientRead(s, ctx, raw);
          const result = machineReads.answer(s.app.value, read.query);
          ctx.reply({ type: 'read-reply', clientId: read.clientId, readNumber: read.readNumber, viewNumber: s.viewNumber, commitNumber: s.commitNumber, result });
        },
      };
    });
    // The first failing seed is 41 (docs/simulation.md).
    expectOnly(await firstViolation(60, STALE_READ_SETTING), LINEARIZABILITY);
  });

  test('correct code: no violation in the same 60 seeds', async () => {
    expect(await firstViolation(60, STALE_READ_SETTING)).toBeUndefined();
  });
});
