/**
 * The simulator as the main test of the core: a fixed budget of seeds under
 * every fault class on 3 and 5 replicas must show no violation, and the
 * runs must actually exercise faults (view changes, crashes, partitions,
 * lost messages). Plus: one seed replays exactly.
 */
import { describe, expect, test } from 'vitest';
import { simulate, type SimulationSummary } from '../src/index.js';

const SEEDS = Number(process.env.VSR_SIM_SEEDS ?? 12);

describe.each([3, 5])('%i replicas', (replicaCount) => {
  test.each(['network', 'crash', 'partition', 'wipe', 'storage', 'all', 'swarm'] as const)(
    `faults=%s: ${SEEDS} seeds, no violations`,
    (faults) => {
      const summaries: SimulationSummary[] = [];
      for (let seed = 1; seed <= SEEDS; seed++) {
        const { summary } = simulate({ seed, replicaCount, clientCount: 4, requests: 250, faults: [faults] });
        if (summary.violations.length > 0) {
          throw new Error(
            `seed ${seed} violated:\n${summary.violations.join('\n')}\n` +
              `replay: npm run sim -- --seed ${seed} --replicas ${replicaCount} --faults ${faults} --clients 4 --requests 250`,
          );
        }
        summaries.push(summary);
      }
      const total = (field: keyof SimulationSummary) => summaries.reduce((sum, s) => sum + (s[field] as number), 0);
      expect(total('requests_ok') + total('requests_indeterminate')).toBe(SEEDS * 250);
      expect(summaries.every((s) => s.linearizable && s.converged)).toBe(true);
      if (faults === 'network' || faults === 'all') expect(total('messages_dropped')).toBeGreaterThan(0);
      if (faults === 'crash' || faults === 'all') expect(total('crashes')).toBeGreaterThan(0);
      if (faults === 'partition' || faults === 'all') expect(total('partitions')).toBeGreaterThan(0);
      if (faults === 'wipe' || faults === 'all') expect(total('recoveries')).toBeGreaterThan(0);
      if (faults === 'storage' || faults === 'all') {
        expect(total('storage_faults')).toBeGreaterThan(0);
        expect(total('repairs')).toBeGreaterThan(0);
      }
      if (faults === 'crash' || faults === 'partition' || faults === 'all') expect(total('view_changes')).toBeGreaterThan(0);
    },
  );
});

/**
 * Seeds that found clients trapped while a quorum was serving. Seed 440: replica 0 crashed while
 * primary and replica 1 stayed recovering in view 0; replica 1 redirected every client to replica
 * 0, whose silence sent them back to replica 1. Seeds 35 and 403: every other replica had timed
 * out on a client earlier in the same request, so a rule that skipped them all sent it back to
 * the stale replica forever.
 */
test.each([
  [440, 5],
  [35, 3],
  [403, 3],
])('seed %i (%i replicas, all and swarm faults): no client is traded between a dead primary and a stale replica', (seed, replicaCount) => {
  const { summary } = simulate({ seed, replicaCount, clientCount: 4, requests: 300, faults: ['all', 'swarm'] });
  expect(summary.violations).toEqual([]);
  expect(summary.requests_ok).toBe(300);
});

/**
 * A seed that lost an acknowledged op with correct code. A backup restarted (commit 0, its log
 * 1..67 durable) and took the new view's StartView, which carried a checkpoint at op 64: it
 * truncated its log to 64 and appended 65..67 again, but the appends and the checkpoint's
 * release wait for the checkpoint to be durable, and only the truncation reached the disk
 * before a crash. It came back with a log of 64 under a header whose last normal view vouched
 * for 67, and its DoViewChange made a primary that dropped the committed ops 65 and 66.
 * Installing a checkpoint now keeps the entries after it for the log install to compare.
 */
test('seed 10, crashes every 60 ms against fsyncs of 20–60 ms: a checkpoint install cut short by a crash loses no acknowledged op', () => {
  const { summary } = simulate({
    seed: 10,
    replicaCount: 3,
    clientCount: 4,
    requests: 200,
    faults: ['network', 'crash', 'partition', 'clock'],
    partialHealShare: 0,
    rates: { fsyncMinMs: 20, fsyncMaxMs: 60, delayMaxMs: 3, crashEveryMs: 60, downtimeMinMs: 5, downtimeMaxMs: 60, lossRate: 0.2 },
  });
  expect(summary.violations).toEqual([]);
});

test('the same seed replays the same run; another seed does not', () => {
  const options = { replicaCount: 3, clientCount: 3, requests: 300, faults: ['all' as const] };
  const a = simulate({ seed: 42, ...options });
  const b = simulate({ seed: 42, ...options });
  const c = simulate({ seed: 43, ...options });
  const strip = ({ wall_ms: _wall, ...rest }: SimulationSummary) => rest;
  expect(strip(b.summary)).toEqual(strip(a.summary));
  expect(b.history).toEqual(a.history);
  expect(c.summary.trace_digest).not.toBe(a.summary.trace_digest);
  // Tracing does not change the run.
  expect(simulate({ seed: 42, ...options, trace: true }).summary.trace_digest).toBe(a.summary.trace_digest);
});

test('a run with no faults completes every request with no view change', () => {
  const { summary, history } = simulate({ seed: 7, replicaCount: 3, clientCount: 5, requests: 400, faults: ['none'] });
  expect(summary).toMatchObject({ requests_ok: 400, requests_indeterminate: 0, view_changes: 0, messages_dropped: 0, violations: [] });
  expect(history.every((operation) => operation.returnMs !== null && operation.returnMs >= operation.callMs)).toBe(true);
});

test('the liveness checker fires when requests outlive the bound after the faults heal', () => {
  // Requests take several ms; a 1 ms bound cannot be met, so the checker must say so.
  const { summary } = simulate({ seed: 3, replicaCount: 3, clientCount: 2, requests: 100, faults: ['network'], livenessBoundMs: 1 });
  expect(summary.violations.some((violation) => violation.startsWith('liveness:'))).toBe(true);
});

test('bad options are refused with the flag name', () => {
  expect(() => simulate({ seed: 1, replicaCount: 0, clientCount: 1, requests: 1, faults: ['none'] })).toThrow(/--replicas/);
  expect(() => simulate({ seed: 1, replicaCount: 3, clientCount: 0, requests: 1, faults: ['none'] })).toThrow(/--clients/);
});
