/**
 * The report page's script: zoom and time windows. Every element with `data-t` is repositioned
 * from its times: a line's x1/x2, a rect's x/width, a group's translation. A group with
 * `data-fit` is a span's label: hidden when the span is narrower than that many px, and
 * otherwise slid right to stay in view while the span is partly scrolled off. The axis is
 * redrawn with the same rules as the diagram's, for the visible stretch only.
 *
 * A browser script, type-checked against the DOM (its own tsconfig.json); report.ts transpiles
 * it and inlines it in the page, which must work offline, opened from disk.
 */

interface Item {
  readonly el: Element;
  readonly tag: string;
  readonly a: number;
  readonly b: number;
  /** The px a span's label needs, or -1 for an element that is not a label. */
  readonly fit: number;
  /** Where the label was last put (-1: hidden), to skip unchanged ones. */
  at: number | null;
}

const NS = 'http://www.w3.org/2000/svg';

function element<T extends Element>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the report page lacks #${id}`);
  return found as unknown as T;
}

const svg = element<SVGSVGElement>('diagram');
const scroller = element<HTMLDivElement>('scroller');
const axis = element<SVGGElement>('axis');
const fromInput = element<HTMLInputElement>('from');
const toInput = element<HTMLInputElement>('to');
const zoom = element<HTMLInputElement>('zoom');
const readout = element<HTMLElement>('readout');
const numberAttribute = (el: Element, name: string): number => Number(el.getAttribute(name));
const PAD = numberAttribute(svg, 'data-pad');
const END = numberAttribute(svg, 'data-end');
const AXIS_H = numberAttribute(svg, 'data-axis-h');
const MAX_SCALE = numberAttribute(svg, 'data-max-scale');
const FOCUS = [numberAttribute(svg, 'data-focus-from'), numberAttribute(svg, 'data-focus-to')] as const;
const HEIGHT = numberAttribute(svg, 'height');
let scale = numberAttribute(svg, 'data-scale');
const items: Item[] = Array.from(svg.querySelectorAll('[data-t]'), (el) => {
  const times = (el.getAttribute('data-t') ?? '0').split(' ');
  const a = Number(times[0]);
  return { el, tag: el.tagName, a, b: times[1] === undefined ? a : Number(times[1]), fit: el.hasAttribute('data-fit') ? numberAttribute(el, 'data-fit') : -1, at: null };
});
const labels = items.filter((item) => item.fit >= 0);

const x = (t: number): number => PAD + t * scale;
const r1 = (v: number): string => String(Math.round(v * 10) / 10);
const minScale = (): number => Math.min(MAX_SCALE, Math.max(1, scroller.clientWidth - 2 * PAD) / END);

function niceStep(minMs: number): number {
  for (let step = 1; ; step *= 10) {
    if (step >= minMs) return step;
    if (2 * step >= minMs) return 2 * step;
    if (5 * step >= minMs) return 5 * step;
  }
}

function svgChild(name: string, attributes: Record<string, string | number>): SVGElement {
  const child = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attributes)) child.setAttribute(key, String(value));
  return child;
}

function drawAxis(): void {
  while (axis.firstChild) axis.removeChild(axis.firstChild);
  const step = niceStep(90 / scale);
  const first = Math.max(0, Math.floor(((scroller.scrollLeft - PAD) / scale - step) / step) * step);
  const last = Math.min(END, (scroller.scrollLeft + scroller.clientWidth) / scale + step);
  for (let t = first; t <= last; t += step) {
    axis.appendChild(svgChild('line', { x1: r1(x(t)), x2: r1(x(t)), y1: AXIS_H - 6, y2: HEIGHT, class: 'grid' }));
    const text = svgChild('text', { x: r1(x(t)), y: AXIS_H - 9, class: 'tick' });
    text.textContent = String(t);
    axis.appendChild(text);
  }
}

function place(): void {
  svg.setAttribute('width', r1(2 * PAD + END * scale));
  for (const item of items) {
    const xa = x(item.a);
    const xb = x(item.b);
    if (item.tag === 'line') {
      item.el.setAttribute('x1', r1(xa));
      item.el.setAttribute('x2', r1(xb));
    } else if (item.tag === 'rect') {
      item.el.setAttribute('x', r1(xa));
      item.el.setAttribute('width', r1(Math.max(1, xb - xa)));
    } else if (item.fit < 0) {
      item.el.setAttribute('transform', `translate(${r1(xa)},0)`);
    }
  }
}

/** Labels of spans: hidden if they do not fit, else kept in view while their span is partly scrolled off. */
function stick(): void {
  const left = scroller.scrollLeft;
  for (const label of labels) {
    const xa = x(label.a);
    const xb = x(label.b);
    const at = xb - xa < label.fit ? -1 : Math.min(Math.max(xa, left), xb - label.fit);
    if (at === label.at) continue;
    label.at = at;
    if (at < 0) {
      label.el.setAttribute('visibility', 'hidden');
      continue;
    }
    label.el.setAttribute('visibility', 'visible');
    label.el.setAttribute('transform', `translate(${r1(at)},0)`);
  }
}

function syncControls(): void {
  const from = (scroller.scrollLeft - PAD) / scale;
  const to = from + scroller.clientWidth / scale;
  if (document.activeElement !== fromInput) fromInput.value = String(Math.round(Math.max(0, from)));
  if (document.activeElement !== toInput) toInput.value = String(Math.round(Math.min(END, to)));
  const lo = Math.log(minScale());
  const hi = Math.log(MAX_SCALE);
  zoom.value = String(hi > lo ? Math.round((1000 * (Math.log(scale) - lo)) / (hi - lo)) : 0);
}

function redraw(): void {
  stick();
  drawAxis();
  syncControls();
}

/** Rescale, keeping the time under anchorPx (px from the left of the visible area) in place. */
function setScale(next: number, anchorPx: number): void {
  const t = (scroller.scrollLeft + anchorPx - PAD) / scale;
  scale = Math.min(MAX_SCALE, Math.max(minScale(), next));
  place();
  scroller.scrollLeft = x(t) - anchorPx;
  redraw();
}

function showWindow(from: number, to: number): void {
  if (!(to > from)) return;
  scale = Math.min(MAX_SCALE, Math.max(minScale(), (scroller.clientWidth - 2 * PAD) / (to - from)));
  place();
  scroller.scrollLeft = x(from) - PAD;
  redraw();
}

function jumpTo(t: number): void {
  scroller.scrollLeft = x(t) - scroller.clientWidth * 0.3;
  redraw();
}

/** Runs `draw` once in the next frame however many events ask for it before then. */
function onceAFrame(draw: () => void): () => void {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      draw();
    });
  };
}

function wireControls(): void {
  element('show').addEventListener('click', () => showWindow(Number(fromInput.value), Number(toInput.value)));
  element('focus').addEventListener('click', () => showWindow(FOCUS[0], FOCUS[1]));
  element('all').addEventListener('click', () => showWindow(0, END));
  element('zin').addEventListener('click', () => setScale(scale * 1.6, scroller.clientWidth / 2));
  element('zout').addEventListener('click', () => setScale(scale / 1.6, scroller.clientWidth / 2));
  for (const input of [fromInput, toInput]) {
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') showWindow(Number(fromInput.value), Number(toInput.value));
    });
  }
  const zoomed = onceAFrame(() => {
    const lo = Math.log(minScale());
    const hi = Math.log(MAX_SCALE);
    setScale(Math.exp(lo + ((hi - lo) * Number(zoom.value)) / 1000), scroller.clientWidth / 2);
  });
  zoom.addEventListener('input', zoomed);
  element<HTMLSelectElement>('jump').addEventListener('change', (event) => {
    const target = event.target as HTMLSelectElement;
    if (target.value !== '') jumpTo(Number(target.value));
  });
  for (const button of Array.from(document.querySelectorAll('[data-jump]'))) {
    button.addEventListener('click', () => {
      jumpTo(numberAttribute(button, 'data-jump'));
      scroller.scrollIntoView({ block: 'nearest' });
    });
  }
  scroller.addEventListener('scroll', onceAFrame(redraw));
  scroller.addEventListener('mousemove', (event) => {
    const box = scroller.getBoundingClientRect();
    const t = (event.clientX - box.left + scroller.scrollLeft - PAD) / scale;
    readout.textContent = t >= 0 && t <= END ? `t = ${t.toFixed(1)} ms` : '';
  });
}

wireControls();
showWindow(FOCUS[0], FOCUS[1]);

// A module (its names stay its own); report.ts inlines it as one function call.
export {};
