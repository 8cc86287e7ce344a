/**
 * A self-contained HTML report of one simulation run: the summary, the exact
 * replay command, and a space-time diagram of the trace (one lane per
 * replica, messages as arrows, views, crashes, partitions, violations) with
 * the clients' operations as intervals underneath.
 *
 * The page is one file with inline CSS, SVG and JS: no external resources,
 * so it works offline, opened from disk. Everything is drawn by the server
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
    `<script>${SCRIPT}</script>`,
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
// Inline CSS and script.

function css(): string {
  return `
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;font-size:14px}
body{margin:0;background:#f6f7f9}
header{padding:14px 20px 10px;background:#fff;border-bottom:1px solid #d8dce3}
h1{font-size:19px;margin:0 0 6px}
.verdict{margin:4px 0 8px;font-weight:700;font-size:15px}
.verdict.pass{color:#1a7f37}
.verdict.fail{color:#c62828}
.violations{margin:0 0 10px;padding:8px 12px 8px 32px;border:2px solid #c62828;background:#fdecea;color:#8e0000;font-weight:600;border-radius:4px}
.violations li{margin:2px 0;white-space:pre-wrap;word-break:break-word}
.violations .jump{margin-left:8px;font-weight:400}
dl.stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:6px 18px;margin:6px 0 8px}
dt{font-size:11px;color:#687080;text-transform:uppercase;letter-spacing:.03em}
dd{margin:0;font-variant-numeric:tabular-nums}
.yes{color:#1a7f37}.no{color:#c62828}
.replay{margin:6px 0 0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
.command{background:#eef1f5;padding:3px 8px;border-radius:4px;user-select:all}
.muted{color:#687080;font-size:12px}
.controls{position:sticky;top:0;z-index:2;display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;padding:7px 20px;background:#fff;border-bottom:1px solid #d8dce3}
.controls input[type=number]{width:80px}
.controls #zoom{width:160px;vertical-align:middle}
.note{margin:6px 20px;padding:6px 10px;background:#fff8e1;border:1px solid #f0d48a;border-radius:4px;font-size:13px}
${diagramCss()}`;
}

/**
 * Zoom and time windows. Every element with `data-t` is repositioned from its
 * times: a line's x1/x2, a rect's x/width, a group's translation. A group with
 * `data-fit` is a span's label: hidden when the span is narrower than that
 * many px, and otherwise slid right to stay in view while the span is partly
 * scrolled off. The axis is redrawn with the same rules as `axisTicks`, for
 * the visible stretch only.
 */
const SCRIPT = `
(function () {
  'use strict';
  var svg = document.getElementById('diagram');
  var scroller = document.getElementById('scroller');
  var axis = document.getElementById('axis');
  var NS = 'http://www.w3.org/2000/svg';
  var PAD = +svg.getAttribute('data-pad');
  var END = +svg.getAttribute('data-end');
  var AXIS_H = +svg.getAttribute('data-axis-h');
  var MAX_SCALE = +svg.getAttribute('data-max-scale');
  var FOCUS = [+svg.getAttribute('data-focus-from'), +svg.getAttribute('data-focus-to')];
  var HEIGHT = +svg.getAttribute('height');
  var scale = +svg.getAttribute('data-scale');
  var items = Array.prototype.map.call(svg.querySelectorAll('[data-t]'), function (el) {
    var ts = el.getAttribute('data-t').split(' ');
    return { el: el, tag: el.tagName, a: +ts[0], b: +(ts[1] === undefined ? ts[0] : ts[1]), fit: el.hasAttribute('data-fit') ? +el.getAttribute('data-fit') : -1, at: null };
  });
  var labels = items.filter(function (it) { return it.fit >= 0; });
  var fromInput = document.getElementById('from');
  var toInput = document.getElementById('to');
  var zoom = document.getElementById('zoom');
  var readout = document.getElementById('readout');

  function x(t) { return PAD + t * scale; }
  function r1(v) { return String(Math.round(v * 10) / 10); }
  function minScale() { return Math.min(MAX_SCALE, Math.max(1, scroller.clientWidth - 2 * PAD) / END); }
  function niceStep(minMs) {
    for (var step = 1; ; step *= 10) {
      if (step >= minMs) return step;
      if (2 * step >= minMs) return 2 * step;
      if (5 * step >= minMs) return 5 * step;
    }
  }
  function drawAxis() {
    while (axis.firstChild) axis.removeChild(axis.firstChild);
    var step = niceStep(90 / scale);
    var first = Math.max(0, Math.floor(((scroller.scrollLeft - PAD) / scale - step) / step) * step);
    var last = Math.min(END, (scroller.scrollLeft + scroller.clientWidth) / scale + step);
    for (var t = first; t <= last; t += step) {
      var line = document.createElementNS(NS, 'line');
      line.setAttribute('x1', r1(x(t))); line.setAttribute('x2', r1(x(t)));
      line.setAttribute('y1', AXIS_H - 6); line.setAttribute('y2', HEIGHT);
      line.setAttribute('class', 'grid');
      var text = document.createElementNS(NS, 'text');
      text.setAttribute('x', r1(x(t))); text.setAttribute('y', AXIS_H - 9);
      text.setAttribute('class', 'tick');
      text.textContent = String(t);
      axis.appendChild(line); axis.appendChild(text);
    }
  }
  function place() {
    svg.setAttribute('width', r1(2 * PAD + END * scale));
    for (var i = 0; i < items.length; i++) {
      var it = items[i], xa = x(it.a), xb = x(it.b);
      if (it.tag === 'line') {
        it.el.setAttribute('x1', r1(xa)); it.el.setAttribute('x2', r1(xb));
      } else if (it.tag === 'rect') {
        it.el.setAttribute('x', r1(xa)); it.el.setAttribute('width', r1(Math.max(1, xb - xa)));
      } else if (it.fit < 0) {
        it.el.setAttribute('transform', 'translate(' + r1(xa) + ',0)');
      }
    }
  }
  /** Labels of spans: hidden if they do not fit, else kept in view while their span is partly scrolled off. */
  function stick() {
    var left = scroller.scrollLeft;
    for (var i = 0; i < labels.length; i++) {
      var it = labels[i], xa = x(it.a), xb = x(it.b);
      var at = xb - xa < it.fit ? -1 : Math.min(Math.max(xa, left), xb - it.fit);
      if (at === it.at) continue;
      it.at = at;
      if (at < 0) { it.el.setAttribute('visibility', 'hidden'); continue; }
      it.el.setAttribute('visibility', 'visible');
      it.el.setAttribute('transform', 'translate(' + r1(at) + ',0)');
    }
  }
  function syncControls() {
    var from = (scroller.scrollLeft - PAD) / scale;
    var to = from + scroller.clientWidth / scale;
    if (document.activeElement !== fromInput) fromInput.value = Math.round(Math.max(0, from));
    if (document.activeElement !== toInput) toInput.value = Math.round(Math.min(END, to));
    var lo = Math.log(minScale()), hi = Math.log(MAX_SCALE);
    zoom.value = hi > lo ? Math.round(1000 * (Math.log(scale) - lo) / (hi - lo)) : 0;
  }
  /** Rescale, keeping the time under anchorPx (px from the left of the visible area) in place. */
  function setScale(next, anchorPx) {
    var t = (scroller.scrollLeft + anchorPx - PAD) / scale;
    scale = Math.min(MAX_SCALE, Math.max(minScale(), next));
    place();
    scroller.scrollLeft = x(t) - anchorPx;
    stick();
    drawAxis();
    syncControls();
  }
  function showWindow(from, to) {
    if (!(to > from)) return;
    scale = Math.min(MAX_SCALE, Math.max(minScale(), (scroller.clientWidth - 2 * PAD) / (to - from)));
    place();
    scroller.scrollLeft = x(from) - PAD;
    stick();
    drawAxis();
    syncControls();
  }
  function jumpTo(t) {
    scroller.scrollLeft = x(t) - scroller.clientWidth * 0.3;
    stick();
    drawAxis();
    syncControls();
  }

  document.getElementById('show').addEventListener('click', function () { showWindow(+fromInput.value, +toInput.value); });
  document.getElementById('focus').addEventListener('click', function () { showWindow(FOCUS[0], FOCUS[1]); });
  document.getElementById('all').addEventListener('click', function () { showWindow(0, END); });
  document.getElementById('zin').addEventListener('click', function () { setScale(scale * 1.6, scroller.clientWidth / 2); });
  document.getElementById('zout').addEventListener('click', function () { setScale(scale / 1.6, scroller.clientWidth / 2); });
  [fromInput, toInput].forEach(function (input) {
    input.addEventListener('keydown', function (e) { if (e.key === 'Enter') showWindow(+fromInput.value, +toInput.value); });
  });
  var pending = false;
  zoom.addEventListener('input', function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () {
      pending = false;
      var lo = Math.log(minScale()), hi = Math.log(MAX_SCALE);
      setScale(Math.exp(lo + (hi - lo) * (+zoom.value) / 1000), scroller.clientWidth / 2);
    });
  });
  document.getElementById('jump').addEventListener('change', function (e) {
    if (e.target.value !== '') jumpTo(+e.target.value);
  });
  Array.prototype.forEach.call(document.querySelectorAll('[data-jump]'), function (button) {
    button.addEventListener('click', function () { jumpTo(+button.getAttribute('data-jump')); scroller.scrollIntoView({ block: 'nearest' }); });
  });
  var scrolling = false;
  scroller.addEventListener('scroll', function () {
    if (scrolling) return;
    scrolling = true;
    requestAnimationFrame(function () { scrolling = false; stick(); drawAxis(); syncControls(); });
  });
  scroller.addEventListener('mousemove', function (e) {
    var box = scroller.getBoundingClientRect();
    var t = (e.clientX - box.left + scroller.scrollLeft - PAD) / scale;
    readout.textContent = t >= 0 && t <= END ? 't = ' + t.toFixed(1) + ' ms' : '';
  });
  showWindow(FOCUS[0], FOCUS[1]);
})();
`;
