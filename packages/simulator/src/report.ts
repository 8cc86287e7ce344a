/**
 * A self-contained HTML report of one simulation run: the summary, the exact
 * replay command, and a space-time diagram of the trace (one lane per
 * replica, messages as arrows, views, crashes, partitions, violations) with
 * the clients' operations as intervals underneath.
 *
 * The page is one file with inline CSS, SVG and JS: no external resources,
 * so it works offline, opened from disk. The CSS and the script are real files in
 * report-page/ (the script type-checked against the DOM), inlined when a page is rendered. Everything is drawn by the server
 * (this module) at a default scale; the inline script only rescales: every
 * time-positioned element carries its times in `data-t` ("a" or "a b", in
 * simulated ms) and the script recomputes x coordinates from them, and redraws
 * the time axis, when the user zooms or picks a time window.
 *
 *
 * The diagram itself (the model read from the trace, and its SVG) is
 * diagram.ts, shared with the browser demo page; this module adds the
 * header, the controls and the zoom script around it.
 * Runs have thousands of messages, so arrows are drawn only for the messages
 * of one contiguous "detail window" of at most `maxArrows` messages, chosen
 * around the focus (by default the first view change); timers and client
 * operations are drawn for that window too. Lanes, views, crashes, partitions
 * and violations are drawn for the whole run. The page says what was left out.
 *
 * Output is deterministic: the same result renders to byte-identical HTML
 * (no dates, no randomness, and the summary's `wall_ms` is left out, so two
 * runs of one seed give the same page).
 */
import { readFileSync } from 'node:fs';
import { transformSync } from 'esbuild';
import { buildDiagram, diagramCss, esc, fmt, MAX_ARROWS_DEFAULT, renderDiagram, renderLegend, type DiagramModel as Model } from './diagram.js';
import type { SimulationResult } from './simulation.js';

export interface ReportOptions {
  /** The page title; default names the seed, replica count and faults. */
  title?: string;
  /** The run's client count and request count, for the replay command (flags left out when unknown). */
  clients?: number;
  requests?: number;
  /** Open on this window (simulated ms), and draw detail around it; default: around the first view change. */
  focusMs?: { from: number; to: number };
  /** At most this many messages get arrows (default 4,000). */
  maxArrows?: number;
}

export function renderReport(result: SimulationResult, options: ReportOptions = {}): string {
  const model = buildModel(result, options);
  const { summary } = result;
  const title = options.title ?? `VSR simulation: seed ${summary.seed}, ${summary.replicas} replicas, faults ${summary.faults}`;
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title>`,
    `<style>${css()}</style>`,
    '</head>',
    '<body>',
    renderHeader(result, model, title, options),
    renderControls(model),
    renderLegend(),
    renderDiagram(model),
    `<script>${script()}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

export { MAX_ARROWS_DEFAULT };

function buildModel(result: SimulationResult, options: ReportOptions): Model {
  const { trace, history, summary } = result;
  const lastTrace = trace.length > 0 ? trace[trace.length - 1]!.atMs : 0;
  const lastHistory = Math.max(0, ...history.map((op) => op.returnMs ?? op.callMs));
  const end = Math.max(1, summary.sim_ms, lastTrace, lastHistory);
  return buildDiagram({ replicas: summary.replicas, endMs: end, events: trace, history, focusMs: options.focusMs, maxArrows: options.maxArrows });
}

// ---------------------------------------------------------------------------
// The page.

function renderHeader(result: SimulationResult, model: Model, title: string, options: ReportOptions): string {
  const s = result.summary;
  const ok = s.violations.length === 0;
  const stat = (key: string, value: string | number) => `<b data-stat="${key}">${esc(String(value))}</b>`;
  const item = (label: string, body: string) => `<div><dt>${esc(label)}</dt><dd>${body}</dd></div>`;
  const yesNo = (key: string, value: boolean) => `<b data-stat="${key}" class="${value ? 'yes' : 'no'}">${value ? 'yes' : 'no'}</b>`;
  const faults =
    s.fault_classes.length > 0 && s.fault_classes.join(',') !== s.faults ? ` (${esc(s.fault_classes.join(', '))})` : '';
  const replay = [
    'npm run sim --',
    `--seed ${s.seed}`,
    `--replicas ${s.replicas}`,
    `--faults ${s.faults}`,
    ...(options.clients === undefined ? [] : [`--clients ${options.clients}`]),
    ...(options.requests === undefined ? [] : [`--requests ${options.requests}`]),
    '--html report.html',
  ].join(' ');
  const unknownFlags = options.clients === undefined || options.requests === undefined;

  const violationItems = s.violations.map((message) => {
    const event = model.violations.find((v) => v.message === message);
    const jump = event === undefined ? '' : ` <button class="jump" data-jump="${event.atMs}">show at ${event.atMs} ms</button>`;
    return `<li>${esc(message)}${jump}</li>`;
  });
  return [
    '<header>',
    `<h1>${esc(title)}</h1>`,
    ok
      ? '<p class="verdict pass">PASS: no violations</p>'
      : `<p class="verdict fail">FAIL: ${s.violations.length} violation${s.violations.length === 1 ? '' : 's'}</p>`,
    ok ? '' : `<ol class="violations">${violationItems.join('')}</ol>`,
    '<dl class="stats">',
    item('seed', stat('seed', s.seed)),
    item('replicas', stat('replicas', s.replicas)),
    item('faults', `${stat('faults', s.faults)}${faults}`),
    item('requests', `${stat('requests_ok', s.requests_ok)} ok / ${stat('requests_indeterminate', s.requests_indeterminate)} indeterminate`),
    item('committed ops', stat('committed_ops', s.committed_ops)),
    item('view changes', stat('view_changes', s.view_changes)),
    item('crashes', `${stat('crashes', s.crashes)} (${stat('restarts', s.restarts)} restarts)`),
    item('partitions', stat('partitions', s.partitions)),
    item('messages', `${stat('messages_sent', s.messages_sent)} sent / ${stat('messages_dropped', s.messages_dropped)} dropped`),
    item('simulated time', `${stat('sim_ms', s.sim_ms)} ms, ${stat('steps', s.steps)} steps`),
    item('linearizable', yesNo('linearizable', s.linearizable)),
    item('converged', yesNo('converged', s.converged)),
    item('trace digest', `<code>${stat('trace_digest', s.trace_digest)}</code>`),
    '</dl>',
    `<p class="replay">Replay: <code class="command">${esc(replay)}</code>${
      unknownFlags ? ' <span class="muted">(client and request counts were not given to the report; the CLI defaults apply)</span>' : ''
    }</p>`,
    '</header>',
  ].join('\n');
}

function renderControls(model: Model): string {
  const options = [...model.moments]
    .sort((a, b) => a.t - b.t)
    .map((moment) => `<option value="${moment.t}">${moment.t} ms: ${esc(moment.label)}</option>`);
  const omitted = model.messages.length - model.drawn.length;
  const note =
    omitted > 0
      ? `<p class="note">Message arrows, timers and client operations are drawn between ${fmt(model.detail.from)} and ${fmt(
          model.detail.to,
        )} ms only: ${model.drawn.length} of ${model.messages.length} messages, <b>${omitted} messages omitted</b> (greyed on the time axis). Lanes, views, crashes, partitions and violations cover the whole run.</p>`
      : '';
  return [
    '<nav class="controls">',
    `<label>window <input id="from" type="number" step="any" value="${fmt(model.focus.from)}"> – <input id="to" type="number" step="any" value="${fmt(model.focus.to)}"> ms</label>`,
    '<button id="show">show</button>',
    '<button id="focus" title="the default window">focus</button>',
    '<button id="all">whole run</button>',
    '<span class="zoom">zoom <button id="zout">−</button><input id="zoom" type="range" min="0" max="1000" value="500"><button id="zin">+</button></span>',
    `<select id="jump"><option value="">jump to…</option>${options.join('')}</select>`,
    '<span id="readout" class="muted"></span>',
    '</nav>',
    note,
  ].join('\n');
}

// ---------------------------------------------------------------------------
// The page's CSS and script: real files beside this module (report-page/), read once.

const pageFiles: { css?: string; script?: string } = {};

/** report-page/report.css, then the diagram's own rules. */
function css(): string {
  pageFiles.css ??= readFileSync(new URL('./report-page/report.css', import.meta.url), 'utf8');
  return `\n${pageFiles.css}${diagramCss()}`;
}

/** report-page/zoom.ts, type-checked against the DOM, transpiled to one function call (esbuild, the transpiler tsx already runs). */
function script(): string {
  pageFiles.script ??= transformSync(readFileSync(new URL('./report-page/zoom.ts', import.meta.url), 'utf8'), {
    loader: 'ts',
    format: 'iife',
    target: 'es2020',
  }).code;
  return pageFiles.script;
}
