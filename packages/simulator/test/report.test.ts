import { describe, expect, test } from 'vitest';
import { renderReport } from '../src/report.js';
import { simulate } from '../src/simulation.js';
import type { HistoryOperation } from '../src/linearizability.js';
import type { SimulationResult, SimulationSummary, TraceEvent } from '../src/simulation.js';

/** A small run with faults; seed 1 has view changes, crashes and partitions (asserted below). */
const RUN = { seed: 1, replicaCount: 3, clientCount: 3, requests: 150, faults: ['network', 'crash', 'partition', 'clock'] as const, trace: true };
const run = () => simulate({ ...RUN, faults: [...RUN.faults] });
const result = run();
const options = { clients: RUN.clientCount, requests: RUN.requests };
const html = renderReport(result, options);

const count = (text: string, pattern: RegExp) => (text.match(new RegExp(pattern.source, 'g')) ?? []).length;
const svgOf = (page: string) => page.slice(page.indexOf('<svg id="diagram"'), page.indexOf('</svg>', page.indexOf('<svg id="diagram"')));
const numberAttribute = (page: string, name: string) => Number(new RegExp(`${name}="([^"]*)"`).exec(page)![1]);

/** A minimal result, built by hand. */
function handMade(changes: { violations?: string[]; trace?: TraceEvent[]; history?: HistoryOperation[] } = {}): SimulationResult {
  const summary: SimulationSummary = {
    seed: 7,
    replicas: 3,
    faults: 'none',
    fault_classes: [],
    requests_ok: 1,
    reads_direct: 0,
    requests_indeterminate: 0,
    committed_ops: 1,
    view_changes: 0,
    crashes: 0,
    restarts: 0,
    wipes: 0,
    recoveries: 0,
    storage_faults: 0,
    repairs: 0,
    state_transfers: 0,
    checkpoints: 0,
    checkpoints_installed: 0,
    log_entries_max: 1,
    partitions: 0,
    messages_sent: 1,
    messages_dropped: 0,
    rejected_inputs: 0,
    steps: 3,
    events: 6,
    linearizable: true,
    converged: true,
    violations: changes.violations ?? [],
    trace_digest: '0123456789abcdef',
    sim_ms: 100,
    wall_ms: 1,
  };
  const trace: TraceEvent[] = changes.trace ?? [
    { atMs: 0, kind: 'state', replicaId: 0, viewNumber: 0, status: 'normal', opNumber: 0, commitNumber: 0 },
    { atMs: 5, kind: 'send', id: 1, from: 0, to: 1, type: 'prepare', viewNumber: 0, opNumber: 1 },
    { atMs: 8, kind: 'deliver', id: 1, to: 1 },
  ];
  return { summary, history: changes.history ?? [], trace };
}

describe('renderReport', () => {
  test('the run has what the report must show', () => {
    expect(result.summary.view_changes).toBeGreaterThan(0);
    expect(result.summary.crashes).toBeGreaterThan(0);
    expect(result.summary.partitions).toBeGreaterThan(0);
    expect(result.summary.violations).toEqual([]);
    // Distinct counts, so the header test would notice one shown in place of another.
    const { view_changes, crashes, partitions } = result.summary;
    expect(new Set([view_changes, crashes, partitions]).size).toBe(3);
  });

  test('is a complete, self-contained HTML document', () => {
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">\n<head>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).toContain(`<title>VSR simulation: seed 1, 3 replicas, faults network,crash,partition,clock</title>`);
    expect(count(html, /<svg id="diagram"/)).toBe(1);
    expect(count(html, /<style>/)).toBe(1);
    expect(count(html, /<script>/)).toBe(1);
    // Nothing loaded from elsewhere.
    expect(html).not.toMatch(/<link|<img|\bsrc=|@import|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(renderReport(result, { ...options, title: 'My <run>' })).toContain('<title>My &lt;run&gt;</title>');
  });

  test('one lane per replica and per client', () => {
    for (let r = 0; r < RUN.replicaCount; r++) expect(html).toContain(`id="lane-r${r}"`);
    expect(html).not.toContain(`id="lane-r${RUN.replicaCount}"`);
    expect(count(html, /class="replica-lane"/)).toBe(RUN.replicaCount);
    for (let c = 0; c < RUN.clientCount; c++) expect(html).toContain(`id="lane-c${c}"`);
    expect(count(html, /class="client-lane"/)).toBe(RUN.clientCount);
  });

  test('the summary numbers', () => {
    const s = result.summary;
    const stats = {
      seed: s.seed,
      replicas: s.replicas,
      faults: s.faults,
      requests_ok: s.requests_ok,
      requests_indeterminate: s.requests_indeterminate,
      view_changes: s.view_changes,
      crashes: s.crashes,
      partitions: s.partitions,
      messages_sent: s.messages_sent,
      messages_dropped: s.messages_dropped,
      trace_digest: s.trace_digest,
    };
    for (const [key, value] of Object.entries(stats)) expect(html).toContain(`data-stat="${key}">${value}</b>`);
    expect(html).toMatch(/data-stat="linearizable" class="yes">yes</);
    expect(html).toMatch(/data-stat="converged" class="yes">yes</);
    expect(html).toContain('PASS: no violations');
    expect(html).not.toContain('class="violations"');
  });

  test('the replay command', () => {
    expect(html).toContain(
      '<code class="command">npm run sim -- --seed 1 --replicas 3 --faults network,crash,partition,clock --clients 3 --requests 150 --html report.html</code>',
    );
    // Without the counts, the flags are left out rather than guessed.
    const bare = renderReport(result);
    expect(bare).toContain('<code class="command">npm run sim -- --seed 1 --replicas 3 --faults network,crash,partition,clock --html report.html</code>');
    expect(bare).toContain('the CLI defaults apply');
  });

  test('an arrow for every delivery and every drop, by type, view-change messages included', () => {
    expect(result.summary.messages_sent).toBeLessThan(4_000); // so every message is drawn
    const typeOf = new Map<number, string>();
    const expected = new Map<string, number>();
    for (const event of result.trace) {
      if (event.kind === 'send') typeOf.set(event.id, event.type);
      if (event.kind === 'deliver' || event.kind === 'drop') {
        const type = typeOf.get(event.id)!;
        expected.set(type, (expected.get(type) ?? 0) + 1);
      }
    }
    for (const type of ['start-view-change', 'do-view-change', 'start-view']) {
      expect(expected.get(type) ?? 0).toBeGreaterThan(0);
      expect(count(html, new RegExp(`class="msg t-${type} vc(?: dropped)?"`))).toBe(expected.get(type));
    }
    for (const type of ['prepare', 'prepare-ok', 'commit']) {
      expect(count(html, new RegExp(`class="msg t-${type}(?: dropped)?"`))).toBe(expected.get(type));
    }
    // Drops are dashed and end in an ×.
    const drops = result.trace.filter((event) => event.kind === 'drop').length;
    expect(drops).toBeGreaterThan(0);
    expect(count(html, /class="msg t-[a-z-]+(?: vc)? dropped"/)).toBe(drops);
    expect(count(html, /class="drop-x"/)).toBe(drops);
    // One arrowhead marker and one legend entry per type.
    for (const type of ['prepare', 'prepare-ok', 'commit', 'start-view-change', 'do-view-change', 'start-view', 'get-state', 'new-state']) {
      expect(html).toContain(`<marker id="arrow-${type}"`);
      expect(html).toContain(` ${type}</span>`);
    }
  });

  test('views, crash bands, partition overlays and the end of the faults', () => {
    const crashes = result.trace.filter((event) => event.kind === 'crash').length;
    expect(crashes).toBe(result.summary.crashes);
    expect(count(html, /class="crash"/)).toBe(crashes);
    expect(count(html, /<g class="partition">/)).toBe(result.summary.partitions);
    // Each partition's label lists its blocked links.
    for (const event of result.trace) {
      if (event.kind !== 'partition') continue;
      const [a, b] = event.blocked[0]!;
      const both = event.blocked.some(([c, d]) => c === b && d === a);
      const link = both ? `${Math.min(a, b)}↔${Math.max(a, b)}` : `${a}→${b}`;
      expect(html).toMatch(new RegExp(`class="partition-label">partition [^<]*${link}`));
    }
    // Every view some replica reached is labelled, and view-change periods are hatched.
    const views = new Set(result.trace.flatMap((event) => (event.kind === 'state' ? [event.viewNumber] : [])));
    for (const view of views) expect(html).toMatch(new RegExp(`class="seg-label">v${view}\\b`));
    expect(count(html, /class="vc-hatch"/)).toBeGreaterThan(0);
    expect(html).toMatch(/class="seg-label">v\d+ ★/); // the primary
    const faultsEnd = result.trace.find((event) => event.kind === 'faults-end')!;
    expect(html).toContain(`<g data-t="${faultsEnd.atMs}" transform="translate(`);
    expect(html).toContain('class="faults-end"');
  });

  test('a lost disk is drawn as its own band, not as a plain crash', () => {
    const wiped = simulate({ seed: 1, replicaCount: 3, clientCount: 2, requests: 150, faults: ['crash', 'wipe'], trace: true });
    const wipes = wiped.trace.filter((event) => event.kind === 'wipe');
    expect(wipes.length).toBe(wiped.summary.wipes);
    expect(wipes.length).toBeGreaterThan(0);
    const page = renderReport(wiped, { clients: 2, requests: 150 });
    expect(count(page, /class="wiped"/)).toBe(wipes.length);
    expect(page).toContain('crashed, disk lost');
    expect(page).toMatch(/r\d crashed and lost its disk/);
    // The crashes that came with the wipes are not drawn twice.
    const crashes = wiped.trace.filter((event) => event.kind === 'crash').length;
    expect(count(page, /class="crash"/)).toBeLessThanOrEqual(crashes);
  });

  test('opens on the first view change', () => {
    const svg = svgOf(html);
    const from = numberAttribute(svg, 'data-focus-from');
    const to = numberAttribute(svg, 'data-focus-to');
    // The new view forms inside the window: its StartView goes out there.
    const firstStartView = result.trace.find((event) => event.kind === 'send' && event.type === 'start-view')!;
    expect(firstStartView.atMs).toBeGreaterThanOrEqual(from);
    expect(firstStartView.atMs).toBeLessThanOrEqual(to);
    expect(to - from).toBeLessThan(1_000);
    // Without a view change: the start of the run.
    const quiet = simulate({ ...RUN, faults: ['none'], requests: 20 });
    expect(quiet.summary.view_changes).toBe(0);
    expect(numberAttribute(svgOf(renderReport(quiet)), 'data-focus-from')).toBe(0);
  });

  test('caps the arrows around the focus and says what it left out', () => {
    expect(html).not.toContain('messages omitted');
    expect(html).not.toContain('class="omitted"');
    const capped = renderReport(result, { ...options, maxArrows: 200 });
    const note = /(\d+) of (\d+) messages, <b>(\d+) messages omitted<\/b>/.exec(capped);
    expect(note).not.toBeNull();
    const [drawn, total, omitted] = [Number(note![1]), Number(note![2]), Number(note![3])];
    expect(drawn).toBeLessThanOrEqual(200);
    expect(drawn).toBeGreaterThan(150);
    expect(total).toBe(result.summary.messages_sent);
    expect(omitted).toBe(total - drawn);
    expect(count(capped, /class="omitted"/)).toBeGreaterThan(0);
    // Each drawn message has at least one arrow, and the focus window's view change is among them.
    expect(count(capped, /class="msg /)).toBeGreaterThanOrEqual(drawn);
    expect(count(capped, /class="msg /)).toBeLessThan(count(html, /class="msg /));
    expect(capped).toMatch(/class="msg t-start-view vc/);
  });

  test('client operations: labels, tooltips, indeterminate ones to the end', () => {
    const history: HistoryOperation[] = [
      { id: 0, clientId: 'c0', operation: { type: 'write', key: 'k1', value: 17 }, callMs: 10, returnMs: 20, outcome: { type: 'ok', result: { ok: true } } },
      { id: 1, clientId: 'c1', operation: { type: 'read', key: 'k0' }, callMs: 12, returnMs: 30, outcome: { type: 'ok', result: { ok: true, value: 5 } } },
      {
        id: 2,
        clientId: 'c0',
        operation: { type: 'cas', key: 'k2', expected: 3, value: 9 },
        callMs: 25,
        returnMs: 40,
        outcome: { type: 'ok', result: { ok: false, error: 'precondition-failed', actual: 4 } },
      },
      { id: 3, clientId: 'c1', operation: { type: 'write', key: 'k0', value: 8 }, callMs: 35, returnMs: null, outcome: { type: 'indeterminate' } },
      // A new session of client 1 stays on its lane, in a second row (the indeterminate op is still open).
      { id: 4, clientId: 'c1.2', operation: { type: 'delete', key: 'k0' }, callMs: 50, returnMs: 60, outcome: { type: 'ok', result: { ok: true, existed: true } } },
    ];
    const page = renderReport(handMade({ history }));
    expect(count(page, /class="client-lane"/)).toBe(2);
    for (const label of ['w k1=17', 'r k0→5', 'cas k2 3→9 ✗', 'w k0=8 ?', 'del k0']) expect(page).toContain(`class="op-label">${label}</text>`);
    expect(page).toContain('<title>c0 #2: compare-and-set k2: 3 → 9; called 25 ms, returned 40 ms (15 ms): precondition failed (actual 4)</title>');
    expect(page).toContain('<title>c1.2 #4: delete k0; called 50 ms, returned 60 ms (10 ms): ok (existed)</title>');
    // The indeterminate write runs from its call to the end of the run, hatched.
    expect(page).toMatch(/<rect data-t="35 100" [^>]*class="op indeterminate" fill="url\(#hatch-indeterminate\)"/);
    expect(page).toContain('indeterminate: the client never learned the outcome');
    // c1's lane has two rows: the delete sits below the open write.
    const rows = [...page.matchAll(/<rect data-t="(?:35 100|50 60)" x="[^"]*" y="([^"]*)"/g)].map((m) => Number(m[1]));
    expect(rows).toHaveLength(2);
    expect(rows[0]).not.toBe(rows[1]);
  });

  test('deterministic: the same run renders to the same bytes', () => {
    expect(renderReport(result, options)).toBe(html);
    // A second run of the seed too (its wall time differs, and is left out).
    expect(renderReport(run(), options)).toBe(html);
  });

  test('a violation is highlighted in the header and on the diagram', () => {
    const message = 'linearizability: key k1: read saw 17 after 18 was written';
    const at = result.summary.sim_ms;
    const broken: SimulationResult = {
      summary: { ...result.summary, violations: [...result.summary.violations, message] },
      history: result.history,
      trace: [...result.trace, { atMs: at, kind: 'violation', message }],
    };
    const page = renderReport(broken, options);
    expect(page).toContain('<p class="verdict fail">FAIL: 1 violation</p>');
    expect(page).toContain(`<ol class="violations"><li>${message} <button class="jump" data-jump="${at}">show at ${at} ms</button></li></ol>`);
    expect(page).toContain(`<g data-t="${at}" transform="translate(`);
    expect(page).toMatch(new RegExp(`class="violation-line"/>.*class="violation-label">VIOLATION: ${message}</text>`));
    expect(count(page, /class="violation"/)).toBe(1);
    expect(page).not.toContain('PASS');
    expect(html).not.toContain('class="violation-line"');
  });

  test('escapes text from the result', () => {
    const evil = '<script>alert(1)</script>';
    const page = renderReport(
      handMade({
        violations: [evil],
        trace: [
          { atMs: 0, kind: 'state', replicaId: 0, viewNumber: 0, status: 'normal', opNumber: 0, commitNumber: 0 },
          { atMs: 5, kind: 'send', id: 1, from: 0, to: 1, type: '"><script>alert(2)</script>', viewNumber: 0 },
          { atMs: 6, kind: 'drop', id: 1, reason: evil },
          { atMs: 50, kind: 'violation', message: evil },
        ],
        history: [
          { id: 0, clientId: '<c0>', operation: { type: 'write', key: '<k>', value: evil }, callMs: 1, returnMs: 2, outcome: { type: 'ok', result: { ok: true } } },
        ],
      }),
    );
    expect(page).not.toContain(evil);
    expect(page).not.toContain('<script>alert');
    expect(page).not.toContain('<c0>');
    expect(page).not.toContain('<k>');
    expect(count(page, /<script>/)).toBe(1); // the page's own
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('class="msg t-other dropped"'); // an unknown type gets a neutral class, not its name
  });
});
