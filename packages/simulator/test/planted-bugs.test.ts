/**
 * Teeth: plant a known bug, run seeds until the simulator reports a
 * violation, and require that it does so within a bounded number of seeds.
 * Core bugs are planted by replacing one small function of @vsr/core's
 * quorum module for this test only; interpreter bugs through the
 * simulator's `bugs` option.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { FaultName, SimulationOptions, SimulationSummary } from '../src/index.js';

const QUORUM = '../../core/src/quorum.ts';
const VIEW_CHANGE = '../../core/src/view-change.ts';
const LOSSY = { lossRate: 0.3, delayMaxMs: 40, partitionEveryMs: 150 };

type Quorum = typeof import('../../core/src/quorum.js');

async function firstViolation(
  seedsMax: number,
  options: Partial<SimulationOptions> = {},
): Promise<SimulationSummary | undefined> {
  const { simulate } = await import('../src/index.js');
  for (let seed = 1; seed <= seedsMax; seed++) {
    const { summary } = simulate({
      seed,
      replicaCount: 3,
      clientCount: 4,
      requests: 200,
      faults: ['network', 'crash', 'partition', 'clock'],
      ...options,
    });
    if (summary.violations.length > 0) return summary;
  }
  return undefined;
}

afterEach(() => {
  vi.doUnmock(QUORUM);
  vi.doUnmock(VIEW_CHANGE);
  vi.resetModules();
});

describe('the simulator catches planted bugs', () => {
  test('committing without a quorum', async () => {
    vi.resetModules();
    vi.doMock(QUORUM, async (importOriginal) => ({ ...(await importOriginal<Quorum>()), hasQuorum: () => true }));
    const caught = await firstViolation(20);
    expect(caught?.violations.join('\n')).toBeTruthy();
  });

  test('counting a duplicated acknowledgement twice', async () => {
    vi.resetModules();
    vi.doMock(QUORUM, async (importOriginal) => ({
      ...(await importOriginal<Quorum>()),
      addVote: (votes: readonly number[], replica: number) => [...votes, replica],
    }));
    const caught = await firstViolation(30, { replicaCount: 5 });
    expect(caught?.violations.join('\n')).toBeTruthy();
  });

  test('choosing the wrong log in the view change (the first vote, not the latest)', async () => {
    vi.resetModules();
    vi.doMock(QUORUM, async (importOriginal) => ({
      ...(await importOriginal<Quorum>()),
      chooseLog: <V>(votes: readonly V[]) => votes[0]!,
    }));
    const caught = await firstViolation(30);
    expect(caught?.violations.join('\n')).toBeTruthy();
  });

  test('accepting a Prepare from the old view during a view change', async () => {
    vi.resetModules();
    type ViewChange = typeof import('../../core/src/view-change.js');
    vi.doMock(VIEW_CHANGE, async (importOriginal) => {
      const original = await importOriginal<ViewChange>();
      const { onPrepare } = await import('../../core/src/normal.js');
      const routeFromPrimary: ViewChange['routeFromPrimary'] = (s, ctx, m) => {
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
    expect(caught?.violations.join('\n')).toBeTruthy();
  });

  test('truncating an op that may be committed: dropping a last record taken for a torn write', async () => {
    const caught = await firstViolation(10, {
      bugs: { truncateTailAtBoot: true },
      rates: { crashEveryMs: 100, downtimeMinMs: 5, downtimeMaxMs: 100, lossRate: 0.2 },
    });
    expect(caught?.violations.join('\n')).toBeTruthy();
  });

  test('skipping the durable header: after a crash the replica cannot tell it ever spoke, and rejoins as new', async () => {
    const caught = await firstViolation(10, { bugs: { skipHeaderWrites: true } });
    expect(caught?.violations.join('\n')).toBeTruthy();
  });

  test('sending before the durability barrier', async () => {
    // Slow disks, a fast lossy network and frequent short crashes: the window the bug opens.
    const caught = await firstViolation(20, {
      bugs: { sendBeforeDurable: true },
      rates: { fsyncMinMs: 20, fsyncMaxMs: 60, delayMaxMs: 3, crashEveryMs: 60, downtimeMinMs: 5, downtimeMaxMs: 60, lossRate: 0.2 },
    });
    expect(caught?.violations.join('\n')).toBeTruthy();
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
    expect(caught?.violations.join('\n')).toMatch(/convergence|liveness/);
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
