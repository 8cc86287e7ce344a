/**
 * Teeth: plant a known bug, run seeds until the simulator reports a
 * violation, and require that it does so within a bounded number of seeds,
 * and that the violation is the one the bug must cause. Core bugs are planted
 * by replacing one small function of a @vsr/core module for this test only;
 * interpreter bugs through the simulator's `bugs` option.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { FaultName, SimulationOptions } from '../src/index.js';
import { expectOnly, firstViolation as firstViolationOf } from './planted-support.js';

const QUORUM = '../../core/src/quorum.ts';
const FROM_PRIMARY = '../../core/src/from-primary.ts';
const LOSSY = { lossRate: 0.3, delayMaxMs: 40, partitionEveryMs: 150 };

type Quorum = typeof import('../../core/src/quorum.js');

/**
 * The durability check of the SafetyMonitor: a replica became primary of a view without an op
 * that a client saw answered (the op named as `opNumber@viewNumber t timestampMs [requests]`).
 */
const lostAcknowledgedOp = (view = String.raw`\d+`) =>
  new RegExp(String.raw`^replica \d+ became primary of view ${view} without acknowledged op \d+@\d+t\d+\[c\d+(\.\d+)?#\d+:.*\]$`);

/** The state invariant a planted bug breaks, when `checkReplicaInvariants` runs after each step. */
const brokeInvariant = (invariant: string) => new RegExp(String.raw`^replica \d+ broke a state invariant: invariant: replica \d+: ${invariant.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);

/** These bugs are for the safety checkers: the symptom checks on their own (the state invariants
 * catch some bugs first, tested below), and full heals only (the partial heal has its own teeth). */
const DEFAULTS: Partial<SimulationOptions> = { faults: ['network', 'crash', 'partition', 'clock'], stateInvariants: false, partialHealShare: 0 };
const firstViolation = (seedsMax: number, options: Partial<SimulationOptions> = {}) => firstViolationOf(seedsMax, DEFAULTS, options);

afterEach(() => {
  vi.doUnmock(QUORUM);
  vi.doUnmock(FROM_PRIMARY);
  vi.resetModules();
});

describe('the simulator catches planted bugs', () => {
  test('committing without a quorum', async () => {
    vi.resetModules();
    vi.doMock(QUORUM, async (importOriginal) => ({ ...(await importOriginal<Quorum>()), hasQuorum: () => true }));
    const caught = await firstViolation(20);
    expectOnly(caught, lostAcknowledgedOp());
  });

  test('counting a duplicated acknowledgement twice', async () => {
    vi.resetModules();
    vi.doMock(QUORUM, async (importOriginal) => ({
      ...(await importOriginal<Quorum>()),
      addVote: (votes: readonly number[], replica: number) => [...votes, replica],
    }));
    const caught = await firstViolation(30, { replicaCount: 5 });
    expectOnly(caught, lostAcknowledgedOp());
    expectOnly(await firstViolation(30, { replicaCount: 5, stateInvariants: true }), brokeInvariant("viewChange.startViewChangeVotes is a vote set with this replica's own"));
  });

  test('choosing the wrong log in the view change (the first vote, not the latest)', async () => {
    vi.resetModules();
    vi.doMock(QUORUM, async (importOriginal) => ({
      ...(await importOriginal<Quorum>()),
      chooseLog: <V>(votes: readonly V[]) => votes[0]!,
    }));
    const caught = await firstViolation(30);
    expectOnly(caught, lostAcknowledgedOp());
  });

  test('accepting a Prepare from the old view during a view change', async () => {
    vi.resetModules();
    type FromPrimary = typeof import('../../core/src/from-primary.js');
    vi.doMock(FROM_PRIMARY, async (importOriginal) => {
      const original = await importOriginal<FromPrimary>();
      const { onPrepare } = await import('../../core/src/normal.js');
      const routeFromPrimary: FromPrimary['routeFromPrimary'] = (s, ctx, m) => {
        if (m.type === 'prepare' && s.status === 'view-change' && m.viewNumber === s.lastNormalView) {
          // The bug: handle it as if still normal in the old view, and acknowledge it there.
          const [viewNumber, status] = [s.viewNumber, s.status];
          s.viewNumber = m.viewNumber;
          s.status = 'normal';
          try {
            onPrepare(s, ctx, m);
          } finally {
            s.viewNumber = viewNumber;
            s.status = status;
          }
          return;
        }
        original.routeFromPrimary(s, ctx, m);
      };
      return { ...original, routeFromPrimary };
    });
    // The old primary must keep committing while the others change views: lossy, slow links help.
    const caught = await firstViolation(30, { faults: ['network', 'crash', 'partition', 'clock'], rates: LOSSY });
    expectOnly(caught, lostAcknowledgedOp());
    expectOnly(await firstViolation(30, { rates: LOSSY, stateInvariants: true }), brokeInvariant('repairOpNumber !== null only at a backup in normal status'));
  });

  test('truncating an op that may be committed: dropping a last record taken for a torn write', async () => {
    const options: Partial<SimulationOptions> = {
      bugs: { truncateTailAtBoot: true },
      rates: { crashEveryMs: 100, downtimeMinMs: 5, downtimeMaxMs: 100, lossRate: 0.2 },
    };
    expectOnly(await firstViolation(10, options), lostAcknowledgedOp());
    expectOnly(await firstViolation(10, { ...options, stateInvariants: true }), brokeInvariant('primary => commitNumber === commitNumberMax'));
  });

  test('skipping the durable header: after a crash the replica cannot tell it ever spoke, and rejoins as new', async () => {
    const caught = await firstViolation(10, { bugs: { skipHeaderWrites: true } });
    // Rejoining as new, the replica starts over in view 0, whose primary it may be.
    expectOnly(caught, lostAcknowledgedOp('0'));
  });

  test('sending before the durability barrier', async () => {
    // Slow disks, a fast lossy network and frequent short crashes: the window the bug opens.
    const options: Partial<SimulationOptions> = {
      bugs: { sendBeforeDurable: true },
      rates: { fsyncMinMs: 20, fsyncMaxMs: 60, delayMaxMs: 3, crashEveryMs: 60, downtimeMinMs: 5, downtimeMaxMs: 60, lossRate: 0.2 },
    };
    expectOnly(await firstViolation(20, options), lostAcknowledgedOp());
    // With the invariants on, either check may fire first (idle lulls moved the seeds' schedules).
    const invariant = brokeInvariant('primary => commitNumber === commitNumberMax');
    expectOnly(await firstViolation(20, { ...options, stateInvariants: true }), new RegExp(`${invariant.source}|${lostAcknowledgedOp().source}`));
  });

  test('a log release reaching the disk before the checkpoint it relies on', async () => {
    // Checkpoints every 4 ops and frequent crashes: a store whose journal starts after its checkpoint cannot boot.
    const settings = {
      faults: ['crash', 'storage'] as FaultName[],
      limits: { checkpointIntervalOps: 4 },
      rates: { fsyncMinMs: 1, fsyncMaxMs: 3, crashEveryMs: 60, downtimeMinMs: 5, downtimeMaxMs: 60, tornWriteRate: 0 },
      requests: 300,
    };
    const caught = await firstViolation(10, { ...settings, bugs: { releaseBeforeCheckpoint: true } });
    // The store cannot boot (its log starts after its checkpoint): the replica stays booting, empty, and the cluster never converges.
    // Either the rest converge without it, or (with a second replica down) the run stalls and spends its budget.
    expectOnly(caught, /^(convergence: replicas differ \d+ ms after the workload ended: |liveness: the run spent its budget of \d+ ms of simulated time without finishing \().*\br\d booting v0 op0 c0 base0\b/);
    expect(await firstViolation(10, settings)).toBeUndefined();
  });

  test('the correct code passes the same seeds and fault settings', async () => {
    expect(await firstViolation(10)).toBeUndefined();
    expect(await firstViolation(10, { faults: ['network', 'crash', 'partition', 'clock'], rates: LOSSY })).toBeUndefined();
    expect(
      await firstViolation(10, { rates: { crashEveryMs: 100, downtimeMinMs: 5, downtimeMaxMs: 100, lossRate: 0.2 } }),
    ).toBeUndefined();
    expect(
      await firstViolation(10, {
        rates: { fsyncMinMs: 20, fsyncMaxMs: 60, delayMaxMs: 3, crashEveryMs: 60, downtimeMinMs: 5, downtimeMaxMs: 60, lossRate: 0.2 },
      }),
    ).toBeUndefined();
  });
});
