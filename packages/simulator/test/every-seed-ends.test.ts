/**
 * Every seed ends: a liveness bug that makes no progress used to hang the simulator (the
 * faults never ended, since the workload never reached the point where they stop). The run's
 * budgets of simulated time and events now end it, as a liveness violation that names what
 * each replica was doing, within a bounded wall time.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { SimulationOptions, SimulationSummary } from '../src/index.js';

const CLIENT_TABLE = '../../core/src/client-table.ts';
type ClientTableModule = typeof import('../../core/src/client-table.js');

/** What the budget's violation says: the budget, the answered count, and each replica's status, view, op and commit. */
const budgetSpent = /^liveness: the run spent its budget of \d+ (ms of simulated time|events) without finishing \(\d+ of \d+ requests answered; .*r0 (\w+ v\d+ op\d+ c\d+ base\d+|down)/;

async function run(options: Partial<SimulationOptions>): Promise<{ summary: SimulationSummary; wallMs: number }> {
  const { simulate } = await import('../src/index.js');
  const startedMs = Date.now();
  const { summary } = simulate({ seed: 16, replicaCount: 3, clientCount: 4, requests: 200, faults: ['network', 'crash'], ...options });
  return { summary, wallMs: Date.now() - startedMs };
}

afterEach(() => {
  vi.doUnmock(CLIENT_TABLE);
  vi.resetModules();
});

describe('every seed ends', () => {
  test("retries of a client's latest request dropped as stale: a liveness violation, not a hang", async () => {
    vi.resetModules();
    vi.doMock(CLIENT_TABLE, async (importOriginal) => {
      const original = await importOriginal<ClientTableModule>();
      return {
        ...original,
        classifyRequest: (...args: Parameters<ClientTableModule['classifyRequest']>) => {
          const verdict = original.classifyRequest(...args);
          return verdict.kind === 'latest' ? { kind: 'stale', session: verdict.session } : verdict;
        },
      };
    });
    // Seed 1: a reply is lost, so a client retries a request that already ran (seed 16 was used
    // until clients stopped following stale redirects, which changed its run).
    const { summary, wallMs } = await run({ seed: 1 });
    expect(summary.violations).toEqual([expect.stringMatching(/^liveness: \d+ request\(s\) still unanswered 30000 ms after the faults healed \(c\d+#\d+→r\d.*; r0 normal v\d+ op\d+ c\d+/)]);
    expect(wallMs).toBeLessThan(30_000);
  });

  test('a smaller budget ends a run sooner; the same seed passes within a budget it fits', async () => {
    const budget = { simulatedMsMax: 20_000 };
    const healthy = await run({ ...budget, requests: 50 });
    expect(healthy.summary.violations).toEqual([]);
    const starved = await run({ simulatedMsMax: 500, requests: 50 });
    expect(starved.summary.violations).toEqual([expect.stringMatching(budgetSpent)]);
    expect(starved.summary.sim_ms).toBeLessThanOrEqual(2_000);
    const fewEvents = await run({ eventsMax: 300, requests: 50 });
    expect(fewEvents.summary.violations).toEqual([expect.stringMatching(/budget of 300 events/)]);
  });
});
