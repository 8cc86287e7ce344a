/**
 * The harness end to end: three `vsr-maelstrom` processes behind the harness's network, four
 * lin-kv clients, and a nemesis that cuts a minority off, heals, cuts the primary off, heals.
 * The history must be linearizable by the project's checker, and the checker must reject the
 * same history with one read's value altered.
 *
 * Replay a plan: VSR_MAELSTROM_SEED=<seed> npx -y pnpm@12.21.0 exec vitest run packages/maelstrom/test/campaign.test.ts
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Random } from '@vsr/simulator';
import { runCampaign, type CampaignResult } from '../src/harness/campaign.js';
import { checkEvents, type HistoryEvent } from '../src/harness/history.js';
import { testSeed } from './seed.js';

const seed = testSeed();
const VALUE_MAX = 4;
let result: CampaignResult;

describe(`a 3-node lin-kv run with partitions (seed ${seed})`, () => {
  beforeAll(async () => {
    console.log(`maelstrom harness seed ${seed} (replay: VSR_MAELSTROM_SEED=${seed} npx -y pnpm@12.21.0 exec vitest run packages/maelstrom/test/campaign.test.ts)`);
    // Clients wait 1 s, as Maelstrom's do, and the nodes' sessions give up before: within the 1.5 s partitions, some operations end indefinite.
    result = await runCampaign({ seed, nodeCount: 3, clientCount: 4, durationMs: 8_000, phaseMs: 1_500, valueMax: VALUE_MAX });
    console.log(result.nemesis.join('\n'));
  }, 90_000);

  it('gives a linearizable history with ok reads, writes and cases, through a cut primary and heals', () => {
    const { check, counts, operations } = result;
    expect(check.verdict, check.verdict === 'not-linearizable' ? check.explanation : '').toBe('linearizable');
    // The checker was given the whole history: every completed or pending op that did not definitely fail.
    expect(check.operationCount).toBe(operations.length);
    expect(operations.length).toBeGreaterThanOrEqual(counts.ok.read + counts.ok.write + counts.ok.cas);
    expect(check.partCount).toBeGreaterThanOrEqual(1);
    expect(counts.ok.read).toBeGreaterThanOrEqual(10);
    expect(counts.ok.write).toBeGreaterThanOrEqual(10);
    expect(counts.ok.cas).toBeGreaterThanOrEqual(3);
    // The nemesis did its work: messages were dropped, and a primary known from its traffic was cut off.
    expect(result.dropped).toBeGreaterThan(0);
    expect(result.primariesCut.length).toBeGreaterThanOrEqual(1);
    // The cluster serves after the last heal.
    const lastHealMs = result.healedAtMs.at(-1) ?? Infinity;
    expect(result.events.some((event) => event.type === 'ok' && event.f === 'write' && event.timeMs > lastHealMs)).toBe(true);
    expect(result.stdoutPollution).toEqual([]);
    expect(result.nodesDead).toEqual([]);
    for (const lines of result.stderr.values()) expect(lines.join('\n')).not.toMatch(/this is a bug|fatal/);
  });

  it('the checker rejects the same history with one read value altered', () => {
    const okReads = result.events.flatMap((event, index) => (event.type === 'ok' && event.f === 'read' ? [index] : []));
    expect(okReads.length).toBeGreaterThan(0);
    const index = new Random(seed).pick(okReads);
    const original = result.events[index] as HistoryEvent;
    // A value no client ever wrote.
    const altered: HistoryEvent = { ...original, value: [original.value[0], VALUE_MAX + 1 + Number(original.value[1])] };
    const events = result.events.map((event, at) => (at === index ? altered : event));
    const { operations, result: check } = checkEvents(events);
    expect(check.verdict).toBe('not-linearizable');
    if (check.verdict !== 'not-linearizable') return;
    // The violation is on the altered read's key, and the read is one of its ops.
    const alteredOp = operations.find((op) => op.returnMs === altered.timeMs && op.clientId === altered.process);
    expect(alteredOp).toBeDefined();
    expect(check.partOperationIds).toContain(alteredOp?.id);
    expect(check.explanation).toMatch(/no linearization/);
  });
});
