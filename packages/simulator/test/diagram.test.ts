import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { buildDiagram, renderDiagram, type DiagramEvent } from '../src/diagram.js';
import type { HistoryOperation } from '../src/linearizability.js';
import { renderReport } from '../src/report.js';
import type { SimulationResult, SimulationSummary, TraceEvent } from '../src/simulation.js';

/**
 * A hand-made run with every kind of thing the diagram draws: views and a view change, a crash,
 * a lost disk and restarts, a partition and its heal, timers, delivered and dropped messages,
 * the end of the faults, a violation, and client operations of each kind (one indeterminate).
 * Hand-made, so the simulator's own behaviour can change without touching these pages.
 */
const TRACE: TraceEvent[] = [
  { atMs: 0, kind: 'state', replicaId: 0, viewNumber: 0, status: 'normal', opNumber: 0, commitNumber: 0 },
  { atMs: 0, kind: 'state', replicaId: 1, viewNumber: 0, status: 'normal', opNumber: 0, commitNumber: 0 },
  { atMs: 0, kind: 'state', replicaId: 2, viewNumber: 0, status: 'normal', opNumber: 0, commitNumber: 0 },
  { atMs: 5, kind: 'send', id: 1, from: 0, to: 1, type: 'prepare', viewNumber: 0, opNumber: 1 },
  { atMs: 5, kind: 'send', id: 2, from: 0, to: 2, type: 'prepare', viewNumber: 0, opNumber: 1 },
  { atMs: 9, kind: 'deliver', id: 1, to: 1 },
  { atMs: 5, kind: 'drop', id: 2, reason: 'loss' },
  { atMs: 10, kind: 'send', id: 3, from: 1, to: 0, type: 'prepare-ok', viewNumber: 0, opNumber: 1 },
  { atMs: 13, kind: 'deliver', id: 3, to: 0 },
  { atMs: 13, kind: 'state', replicaId: 0, viewNumber: 0, status: 'normal', opNumber: 1, commitNumber: 1 },
  { atMs: 20, kind: 'crash', replicaId: 0 },
  { atMs: 22, kind: 'partition', blocked: [[1, 2], [2, 1], [0, 2]] },
  { atMs: 30, kind: 'timer', replicaId: 1, timer: 'primary-timeout' },
  { atMs: 30, kind: 'state', replicaId: 1, viewNumber: 1, status: 'view-change', opNumber: 1, commitNumber: 0 },
  { atMs: 31, kind: 'send', id: 4, from: 1, to: 2, type: 'start-view-change', viewNumber: 1 },
  { atMs: 35, kind: 'drop', id: 4, reason: 'partition' },
  { atMs: 40, kind: 'heal' },
  { atMs: 41, kind: 'send', id: 5, from: 1, to: 2, type: 'start-view-change', viewNumber: 1 },
  { atMs: 44, kind: 'deliver', id: 5, to: 2 },
  { atMs: 44, kind: 'state', replicaId: 2, viewNumber: 1, status: 'view-change', opNumber: 0, commitNumber: 0 },
  { atMs: 45, kind: 'send', id: 6, from: 2, to: 1, type: 'do-view-change', viewNumber: 1 },
  { atMs: 47, kind: 'deliver', id: 6, to: 1 },
  { atMs: 48, kind: 'state', replicaId: 1, viewNumber: 1, status: 'normal', opNumber: 1, commitNumber: 1 },
  { atMs: 48, kind: 'send', id: 7, from: 1, to: 2, type: 'start-view', viewNumber: 1 },
  { atMs: 50, kind: 'deliver', id: 7, to: 2 },
  { atMs: 50, kind: 'state', replicaId: 2, viewNumber: 1, status: 'normal', opNumber: 1, commitNumber: 1 },
  { atMs: 52, kind: 'timer', replicaId: 1, timer: 'heartbeat' },
  { atMs: 52, kind: 'send', id: 8, from: 1, to: 2, type: 'commit', viewNumber: 1 },
  { atMs: 53, kind: 'deliver', id: 8, to: 2 },
  { atMs: 55, kind: 'wipe', replicaId: 0 },
  { atMs: 60, kind: 'restart', replicaId: 0 },
  { atMs: 61, kind: 'state', replicaId: 0, viewNumber: 0, status: 'recovering', opNumber: 0, commitNumber: 0 },
  { atMs: 62, kind: 'send', id: 9, from: 0, to: 1, type: 'recovery', viewNumber: 0 },
  { atMs: 64, kind: 'deliver', id: 9, to: 1 },
  { atMs: 65, kind: 'send', id: 10, from: 1, to: 0, type: 'recovery-response', viewNumber: 1, opNumber: 1 },
  { atMs: 67, kind: 'deliver', id: 10, to: 0 },
  { atMs: 67, kind: 'deliver', id: 10, to: 0 },
  { atMs: 68, kind: 'state', replicaId: 0, viewNumber: 1, status: 'normal', opNumber: 1, commitNumber: 1 },
  { atMs: 70, kind: 'faults-end' },
  { atMs: 71, kind: 'call', client: 'c1', id: 1, operation: null },
  { atMs: 80, kind: 'violation', message: 'r2 executed op 1 twice <b>&"\'</b>' },
  { atMs: 82, kind: 'send', id: 11, from: 1, to: 2, type: 'made-up', viewNumber: 1 },
  { atMs: 84, kind: 'deliver', id: 11, to: 2 },
];

const HISTORY: HistoryOperation[] = [
  { id: 1, clientId: 'c1', operation: { type: 'write', key: 'k1', value: 17 }, callMs: 2, returnMs: 14, outcome: { type: 'ok', result: { ok: true } } },
  { id: 2, clientId: 'c2', operation: { type: 'read', key: 'k1' }, callMs: 3, returnMs: 50, outcome: { type: 'ok', result: { ok: true, value: 17 } } },
  { id: 3, clientId: 'c1', operation: { type: 'cas', key: 'k1', expected: 3, value: 9 }, callMs: 15, returnMs: null, outcome: { type: 'indeterminate' } },
  { id: 4, clientId: 'c1.2', operation: { type: 'delete', key: 'k1' }, callMs: 20, returnMs: 60, outcome: { type: 'ok', result: { ok: true, existed: true } } },
  { id: 5, clientId: 'c10', operation: { type: 'cas', key: 'k2', expected: 'a', value: 'b' }, callMs: 55, returnMs: 70, outcome: { type: 'ok', result: { ok: false, error: 'precondition-failed', actual: 'c' } } },
];

function summary(): SimulationSummary {
  return {
    seed: 7, replicas: 3, faults: 'crash,partition', fault_classes: ['crash', 'partition'],
    requests_ok: 4, reads_direct: 0, requests_indeterminate: 1, committed_ops: 1, view_changes: 1, crashes: 1, restarts: 1, wipes: 1,
    recoveries: 1, storage_faults: 0, repairs: 0, state_transfers: 0, checkpoints: 0, checkpoints_installed: 0,
    log_entries_max: 1, partitions: 1, messages_sent: 11, messages_dropped: 2, rejected_inputs: 0, steps: 40, events: 44,
    linearizable: true, converged: true, violations: ['r2 executed op 1 twice <b>&"\'</b>'], trace_digest: '0123456789abcdef',
    sim_ms: 90, wall_ms: 1,
  };
}

const RESULT: SimulationResult = { summary: summary(), history: HISTORY, trace: TRACE };
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('the diagram moved out of report.ts', () => {
  // Digests of renderReport's pages for this result with their CSS and script taken out, taken
  // with report.ts as it was before the diagram moved to diagram.ts (and the CSS and script to
  // report-page/): the moves must not change a byte of the rest.
  const withoutStyleAndScript = (html: string) =>
    html.replace(/<style>[\s\S]*?<\/style>/, '<style></style>').replace(/<script>[\s\S]*?<\/script>/, '<script></script>');
  test.each([
    ['default', {}, 'eccc0da5c85bbcde12c5b831ef2ec342ef39eca8b95df45fb1b1d4ba47cb446e'],
    ['few arrows, a window', { maxArrows: 4, focusMs: { from: 20, to: 50 }, clients: 2, requests: 5 }, 'fd7137beb42326fe58ae85382d9d14bea731f5f0c6e0ed7cc68fc270a23c14e2'],
  ] as const)('the report renders byte for byte as before, outside its CSS and script (%s)', (_name, options, digest) => {
    expect(sha256(withoutStyleAndScript(renderReport(RESULT, options)))).toBe(digest);
  });

  test("the page's CSS and script are report-page's files: the CSS as written, the script transpiled", () => {
    const page = renderReport(RESULT);
    const css = readFileSync(new URL('../src/report-page/report.css', import.meta.url), 'utf8');
    expect(page).toContain(css);
    const script = /<script>([\s\S]*?)<\/script>/.exec(page)?.[1] ?? '';
    expect(script).toMatch(/^\(\(\) => \{/);
    expect(script).toContain('function showWindow(from, to)');
    expect(script).not.toMatch(/: number|as HTMLInputElement|interface Item/); // no TypeScript left
  });

  test('the report embeds exactly the SVG that renderDiagram draws from the same events', () => {
    const model = buildDiagram({ replicas: 3, endMs: 90, events: TRACE, history: HISTORY });
    expect(renderReport(RESULT)).toContain(renderDiagram(model));
  });
});

describe('renderDiagram', () => {
  const events: DiagramEvent[] = [
    { atMs: 0, kind: 'state', replicaId: 0, viewNumber: 0, status: 'normal', opNumber: 0, commitNumber: 0 },
    { atMs: 10, kind: 'send', id: 1, from: 0, to: 1, type: 'prepare', viewNumber: 0, opNumber: 1 },
    { atMs: 12, kind: 'deliver', id: 1, to: 1 },
    { atMs: 12, kind: 'deliver', id: 1, to: 1 },
    { atMs: 20, kind: 'crash', replicaId: 1 },
  ];
  const svg = renderDiagram(buildDiagram({ replicas: 2, endMs: 100, events, history: [], viewPx: 500 }));

  test('draws one lane per replica and one arrow per delivery', () => {
    expect(svg.match(/class="replica-lane"/g)).toHaveLength(2);
    expect(svg.match(/<line data-t="10 12"[^>]*class="msg t-prepare"/g)).toHaveLength(2);
    expect(svg).toContain('r1 crashed, 20–100 ms');
  });

  test('viewPx sets the scale: the focus window fills that many px', () => {
    // The default focus without a view change is the first 400 ms, clamped to the end (100 ms).
    expect(svg).toContain('data-scale="5"');
    expect(svg).toContain('width="528"'); // 2 × 14 px padding + 100 ms × 5 px/ms
  });
});
