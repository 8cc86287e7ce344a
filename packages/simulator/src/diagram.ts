/**
 * The space-time diagram of a replicated run, as SVG: one lane per replica
 * (tinted by view, with the primary, view changes, crashes and lost disks),
 * messages as arrows from sender to receiver, partitions, timers, violations,
 * and the clients' operations as intervals underneath.
 *
 * It is pure and imports nothing at run time, so both the simulator's HTML
 * report (report.ts) and the browser demo page draw with it: the report from
 * a simulation trace, the page from what it observes of live replicas. Its
 * input is plain data: the replica count (replicas are 0..n−1), events with
 * a time, a replica and a kind, the messages' sends, deliveries and drops
 * (arrows from/to/time), and the client history.
 *
 * Everything is drawn at one scale; every time-positioned element carries its
 * times in `data-t` ("a" or "a b", in ms) so that a script can rescale it (the
 * report's does, on zoom).
 *
 * Runs have thousands of messages, so arrows are drawn only for the messages
 * of one contiguous "detail window" of at most `maxArrows` messages, chosen
 * around the focus (by default the first view change); timers and client
 * operations are drawn for that window too. Lanes, views, crashes, partitions
 * and violations are drawn for the whole run.
 *
 * Output is deterministic: the same input renders to the same text.
 */
import type { KvOperation, KvResult } from '@vsr/kv';
import type { HistoryOperation } from './linearizability.js';

export type { HistoryOperation };

/** At most this many messages get arrows unless the input says otherwise. */
export const MAX_ARROWS_DEFAULT = 4_000;

/**
 * What the diagram reads, in time order. The simulator's trace events are
 * these (its `DiagramEvent` is assignable to this type); message ids link a
 * send to its deliveries and drops.
 */
export type DiagramEvent =
  | { atMs: number; kind: 'send'; id: number; from: number; to: number; type: string; viewNumber: number; opNumber?: number }
  | { atMs: number; kind: 'deliver'; id: number; to: number }
  | { atMs: number; kind: 'drop'; id: number; reason: string }
  | { atMs: number; kind: 'timer'; replicaId: number; timer: string }
  | { atMs: number; kind: 'state'; replicaId: number; viewNumber: number; status: string; opNumber: number; commitNumber: number }
  | { atMs: number; kind: 'crash'; replicaId: number }
  | { atMs: number; kind: 'restart'; replicaId: number }
  | { atMs: number; kind: 'wipe'; replicaId: number }
  | { atMs: number; kind: 'partition'; blocked: ReadonlyArray<readonly [number, number]> }
  | { atMs: number; kind: 'heal' }
  | { atMs: number; kind: 'faults-end' }
  | { atMs: number; kind: 'violation'; message: string }
  /** Client calls and returns are ignored: the history carries the operations, with their outcomes. */
  | { atMs: number; kind: 'call' | 'return' };

export interface DiagramInput {
  /** Replicas 0..replicas−1, one lane each. */
  readonly replicas: number;
  /** The end of the time axis (ms); the axis starts at 0. */
  readonly endMs: number;
  readonly events: readonly DiagramEvent[];
  readonly history: readonly HistoryOperation[];
  /** Open on this window, and draw detail around it; default: around the first view change. */
  readonly focusMs?: { from: number; to: number } | undefined;
  /** At most this many messages get arrows (default MAX_ARROWS_DEFAULT). */
  readonly maxArrows?: number | undefined;
  /** The focus window fills this many px (default 1400). */
  readonly viewPx?: number | undefined;
}

// ---------------------------------------------------------------------------
// The model: the events turned into things to draw.

interface Segment {
  readonly r: number;
  readonly from: number;
  to: number;
  /** 'booting' | 'normal' | 'view-change' | 'recovering'; 'down' from a crash to the restart, 'wiped' when the disk was lost too. */
  readonly status: string;
  /** Null while booting after a restart, before the first state event. */
  readonly view: number | null;
  readonly opFrom: number;
  readonly commitFrom: number;
  opTo: number;
  commitTo: number;
}

interface Msg {
  readonly id: number;
  readonly from: number;
  readonly to: number;
  readonly type: string;
  readonly view: number;
  readonly op: number | undefined;
  readonly t: number;
  readonly deliveries: number[];
  readonly drops: Array<{ t: number; reason: string }>;
}

interface Partition {
  readonly from: number;
  to: number;
  readonly blocked: ReadonlyArray<readonly [number, number]>;
}

interface Moment {
  readonly t: number;
  readonly label: string;
}

interface ClientLane {
  readonly name: string;
  /** Each row holds operations that do not overlap. */
  readonly rows: HistoryOperation[][];
}

export interface DiagramModel {
  readonly replicas: number;
  readonly end: number;
  readonly segments: Segment[];
  readonly partitions: Partition[];
  readonly timers: Array<Extract<DiagramEvent, { kind: 'timer' }>>;
  readonly faultsEnd: number | null;
  readonly violations: Array<Extract<DiagramEvent, { kind: 'violation' }>>;
  readonly messages: Msg[];
  /** The messages that get arrows: all those sent within [detail.from, detail.to]. */
  readonly drawn: Msg[];
  readonly detail: { from: number; to: number };
  readonly focus: { from: number; to: number };
  readonly clients: ClientLane[];
  readonly moments: Moment[];
  readonly scale: number;
}

/** The diagram's model: the events read into lanes, messages, partitions and moments, and the window of detail. */
export function buildDiagram(input: DiagramInput): DiagramModel {
  const { replicas, history } = input;
  const end = input.endMs;
  const read = new TraceReader(replicas, end);
  for (const event of input.events) read.event(event);
  read.finish();

  const focus = clampWindow(input.focusMs ?? defaultFocus(input.events, end), end);
  const { drawn, detail } = chooseDetail(read.messages, focus, input.maxArrows ?? MAX_ARROWS_DEFAULT, end);
  const clients = clientLanes(
    history.filter((op) => op.callMs <= detail.to && (op.returnMs ?? end) >= detail.from),
    end,
  );
  return {
    replicas,
    end,
    segments: read.segments,
    partitions: read.partitions,
    timers: read.timers.filter((timer) => timer.atMs >= detail.from && timer.atMs <= detail.to),
    faultsEnd: read.faultsEnd,
    violations: read.violations,
    messages: read.messages,
    drawn,
    detail,
    focus,
    clients,
    moments: read.moments,
    scale: clampScale((input.viewPx ?? DEFAULT_VIEW_PX) / (focus.to - focus.from), end),
  };
}

/** The trace, read event by event into lane segments, partitions, timers, violations, messages and moments. */
class TraceReader {
  readonly segments: Segment[] = [];
  readonly partitions: Partition[] = [];
  readonly timers: DiagramModel['timers'] = [];
  readonly violations: DiagramModel['violations'] = [];
  readonly messages: Msg[] = [];
  readonly moments: Moment[] = [];
  faultsEnd: number | null = null;
  /** Each replica's current segment; a change of view or status (or a crash, or a restart) ends it. */
  private readonly current: Segment[] = [];
  private readonly openPartitions: Partition[] = [];
  private readonly byId = new Map<number, Msg>();
  private readonly viewsSeen = new Set<number>([0]);
  private readonly primariesSeen = new Set<number>([0]);

  constructor(
    private readonly replicas: number,
    private readonly end: number,
  ) {
    for (let r = 0; r < replicas; r++) this.open(r, 0, 'booting', 0, 0, 0);
  }

  event(event: DiagramEvent): void {
    switch (event.kind) {
      case 'state':
        return this.state(event);
      case 'crash':
      case 'wipe':
      case 'restart':
        return this.replicaFault(event);
      case 'partition':
      case 'heal':
        return this.partition(event);
      case 'faults-end':
        this.faultsEnd = event.atMs;
        this.moments.push({ t: event.atMs, label: 'faults end' });
        return;
      case 'timer':
        this.timers.push(event);
        return;
      case 'violation':
        this.violations.push(event);
        this.moments.push({ t: event.atMs, label: `VIOLATION: ${truncate(event.message, 80)}` });
        return;
      case 'send':
      case 'deliver':
      case 'drop':
        return this.message(event);
      case 'call':
      case 'return':
        return; // The history has the operations, with their outcomes.
    }
  }

  /** The end of the trace ends every segment still open. */
  finish(): void {
    for (const segment of this.current) this.finishSegment(segment, this.end);
  }

  private state(event: Extract<DiagramEvent, { kind: 'state' }>): void {
    const segment = this.current[event.replicaId];
    if (segment === undefined) return;
    if (segment.status !== event.status || segment.view !== event.viewNumber) {
      this.open(event.replicaId, event.atMs, event.status, event.viewNumber, event.opNumber, event.commitNumber);
    } else {
      segment.opTo = event.opNumber;
      segment.commitTo = event.commitNumber;
    }
    if (!this.viewsSeen.has(event.viewNumber)) {
      this.viewsSeen.add(event.viewNumber);
      const label = event.status === 'view-change' ? `view change to v${event.viewNumber} starts at r${event.replicaId}` : `r${event.replicaId} enters v${event.viewNumber}`;
      this.moments.push({ t: event.atMs, label });
    }
    if (event.status === 'normal' && event.replicaId === event.viewNumber % this.replicas && !this.primariesSeen.has(event.viewNumber)) {
      this.primariesSeen.add(event.viewNumber);
      this.moments.push({ t: event.atMs, label: `v${event.viewNumber}: r${event.replicaId} is primary` });
    }
  }

  private replicaFault(event: Extract<DiagramEvent, { kind: 'crash' | 'wipe' | 'restart' }>): void {
    const segment = this.current[event.replicaId];
    switch (event.kind) {
      case 'crash':
        if (segment !== undefined) this.open(event.replicaId, event.atMs, 'down', segment.view, segment.opTo, segment.commitTo);
        this.moments.push({ t: event.atMs, label: `r${event.replicaId} crashes` });
        return;
      case 'wipe':
        // The process is down (the simulator crashes it first) and its disk is gone.
        this.open(event.replicaId, event.atMs, 'wiped', segment?.view ?? null, 0, 0);
        this.moments.push({ t: event.atMs, label: `r${event.replicaId} loses its disk` });
        return;
      case 'restart':
        this.open(event.replicaId, event.atMs, 'booting', null, 0, 0);
        this.moments.push({ t: event.atMs, label: `r${event.replicaId} restarts` });
        return;
    }
  }

  private partition(event: Extract<DiagramEvent, { kind: 'partition' | 'heal' }>): void {
    if (event.kind === 'partition') {
      const partition: Partition = { from: event.atMs, to: this.end, blocked: event.blocked };
      this.partitions.push(partition);
      this.openPartitions.push(partition);
      this.moments.push({ t: event.atMs, label: `partition ${linkSummary(event.blocked)}` });
      return;
    }
    // The simulator keeps at most one partition at a time; heal the oldest.
    const healed = this.openPartitions.shift();
    if (healed !== undefined) healed.to = event.atMs;
    this.moments.push({ t: event.atMs, label: 'partition heals' });
  }

  private message(event: Extract<DiagramEvent, { kind: 'send' | 'deliver' | 'drop' }>): void {
    if (event.kind === 'deliver') {
      this.byId.get(event.id)?.deliveries.push(event.atMs);
      return;
    }
    if (event.kind === 'drop') {
      this.byId.get(event.id)?.drops.push({ t: event.atMs, reason: event.reason });
      return;
    }
    const { id, from, to, type, viewNumber, opNumber, atMs } = event;
    if (!validReplica(from, this.replicas) || !validReplica(to, this.replicas)) return; // only in a hand-made result
    const message: Msg = { id, from, to, type, view: viewNumber, op: opNumber, t: atMs, deliveries: [], drops: [] };
    this.messages.push(message);
    this.byId.set(event.id, message);
  }

  private open(r: number, t: number, status: string, view: number | null, op: number, commit: number): void {
    const previous = this.current[r];
    if (previous !== undefined) this.finishSegment(previous, t);
    this.current[r] = { r, from: t, to: t, status, view, opFrom: op, commitFrom: commit, opTo: op, commitTo: commit };
  }

  private finishSegment(segment: Segment, t: number): void {
    segment.to = t;
    if (segment.to > segment.from) this.segments.push(segment);
  }
}

/** The default focus window spans about this much simulated time. */
const FOCUS_MAX_MS = 400;

/**
 * Around the first view change: from a little before the first replica leaves
 * normal status until a little after some replica is normal in that view or a
 * later one. A view change that drags on (a partition, say) is shown from its
 * last FOCUS_MAX_MS, where the new view forms: that is the part worth seeing.
 * Without a view change, the start of the run.
 */
function defaultFocus(trace: readonly DiagramEvent[], end: number): { from: number; to: number } {
  const first = trace.find((event) => event.kind === 'state' && event.status === 'view-change');
  if (first === undefined || first.kind !== 'state') return { from: 0, to: Math.min(end, FOCUS_MAX_MS) };
  const settled = trace.find((event) => event.kind === 'state' && event.atMs >= first.atMs && event.status === 'normal' && event.viewNumber >= first.viewNumber);
  const settledAt = settled?.atMs ?? first.atMs + FOCUS_MAX_MS / 2;
  const margin = Math.min(120, Math.max(60, 0.25 * (settledAt - first.atMs)));
  const from = Math.max(first.atMs - margin, settledAt - FOCUS_MAX_MS);
  return { from, to: Math.max(settledAt + margin, from + FOCUS_MAX_MS / 2) };
}

function clampWindow(window: { from: number; to: number }, end: number): { from: number; to: number } {
  const from = Math.min(Math.max(0, window.from), end - 1);
  return { from, to: Math.max(from + 1, Math.min(end, window.to)) };
}

/**
 * The messages that get arrows: a contiguous run (by send time) of at most
 * `cap`, those sent in the focus window first, then evenly around it. The
 * window's edges fall between distinct send times, so every message sent
 * within [from, to] is drawn and none outside.
 */
function chooseDetail(
  messages: Msg[],
  focus: { from: number; to: number },
  cap: number,
  end: number,
): { drawn: Msg[]; detail: { from: number; to: number } } {
  if (messages.length <= cap) return { drawn: messages, detail: { from: 0, to: end } };
  const firstInFocus = lowerBound(messages, focus.from);
  const inFocus = lowerBound(messages, focus.to + 1) - firstInFocus;
  let lo = Math.min(Math.max(0, firstInFocus - Math.floor(Math.max(0, cap - inFocus) / 2)), messages.length - cap);
  let hi = lo + cap;
  const at = (i: number) => messages[i]!.t;
  while (lo > 0 && lo < hi && at(lo) === at(lo - 1)) lo++;
  while (hi < messages.length && hi > lo && at(hi - 1) === at(hi)) hi--;
  const drawn = messages.slice(lo, hi);
  return {
    drawn,
    detail: {
      from: lo === 0 || drawn.length === 0 ? 0 : at(lo),
      to: hi === messages.length || drawn.length === 0 ? end : at(hi - 1),
    },
  };
}

/** The index of the first message sent at or after t (messages are in send order). */
function lowerBound(messages: readonly Msg[], t: number): number {
  let lo = 0;
  let hi = messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (messages[mid]!.t < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One lane per client (a client that opens a new session, `c1.2`, stays on
 * lane c1). An indeterminate operation runs to the end of the run, so later
 * operations of its client overlap it: a lane packs them into rows.
 */
function clientLanes(operations: readonly HistoryOperation[], end: number): ClientLane[] {
  const byName = new Map<string, HistoryOperation[]>();
  for (const operation of operations) {
    const name = operation.clientId.replace(/\..*$/, '');
    const list = byName.get(name) ?? [];
    list.push(operation);
    byName.set(name, list);
  }
  const names = [...byName.keys()].sort(compareClientNames);
  return names.map((name) => {
    const rows: HistoryOperation[][] = [];
    const rowEnds: number[] = [];
    const sorted = [...byName.get(name)!].sort((a, b) => a.callMs - b.callMs || a.id - b.id);
    for (const operation of sorted) {
      let row = rowEnds.findIndex((rowEnd) => rowEnd <= operation.callMs);
      if (row < 0) {
        row = rows.length;
        rows.push([]);
        rowEnds.push(0);
      }
      rows[row]!.push(operation);
      rowEnds[row] = operation.returnMs ?? end;
    }
    return { name, rows };
  });
}

/** c2 before c10; other names after, in code-unit order (locale-independent). */
function compareClientNames(a: string, b: string): number {
  const na = /^c(\d+)$/.exec(a);
  const nb = /^c(\d+)$/.exec(b);
  if (na && nb) return Number(na[1]) - Number(nb[1]);
  if (na || nb) return na ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Geometry. x = PAD + t × scale, in px; the script recomputes it on zoom.

/** The focus window fills this many px at the default scale (the script refits it to the screen). */
const DEFAULT_VIEW_PX = 1400;
/** The diagram is never wider than this (browsers choke on huge elements). */
const MAX_WIDTH_PX = 2_000_000;
const MAX_SCALE = 40;
const PAD = 14;
const AXIS_H = 24;
const STRIP_H = 20;
const LANES_TOP = AXIS_H + STRIP_H + 4;
const LANE_H = 56;
const LANE_GAP = 6;
const CLIENTS_GAP = 22;
const ROW_H = 17;
const CLIENT_GAP = 5;
const LABELS_W = 78;
/** Estimated width of one character of the 10 px labels, to hide labels that do not fit. */
const CHAR_PX = 6;

function clampScale(scale: number, end: number): number {
  return Math.min(scale, MAX_SCALE, (MAX_WIDTH_PX - 2 * PAD) / end);
}

const laneTop = (r: number) => LANES_TOP + r * (LANE_H + LANE_GAP);
const laneMid = (r: number) => laneTop(r) + LANE_H / 2;

function clientsTop(model: DiagramModel): number {
  return laneTop(model.replicas) - LANE_GAP + CLIENTS_GAP;
}

function clientLaneHeight(lane: ClientLane): number {
  return Math.max(1, lane.rows.length) * ROW_H + 4;
}

function diagramHeight(model: DiagramModel): number {
  return clientsTop(model) + model.clients.reduce((sum, lane) => sum + clientLaneHeight(lane) + CLIENT_GAP, 0) + 8;
}

/** Round to 0.1 px: keeps the output short and stable. */
export function fmt(x: number): string {
  return String(Math.round(x * 10) / 10);
}

// ---------------------------------------------------------------------------
// Colours.

const MESSAGE_COLORS: ReadonlyArray<readonly [string, string]> = [
  ['prepare', '#2b6cb0'],
  ['prepare-ok', '#2a9d8f'],
  ['commit', '#8d99ae'],
  ['start-view-change', '#f08c00'],
  ['do-view-change', '#d6336c'],
  ['start-view', '#7048e8'],
  ['get-state', '#2f9e44'],
  ['new-state', '#a0522d'],
  ['recovery', '#0b7285'],
  ['recovery-response', '#66a80f'],
];
const OTHER_MESSAGE_COLOR = '#555';
const VIEW_CHANGE_TYPES = new Set(['start-view-change', 'do-view-change', 'start-view']);
/** Lane tints, keyed by view number mod 4, so neighbouring views differ. */
const VIEW_TINTS = ['#e3edf9', '#e4f3df', '#fbefd9', '#efe3f7'];
const OP_COLORS: Record<KvOperation['type'], readonly [string, string]> = {
  read: ['#d6e6f7', '#2b6cb0'],
  write: ['#d7f0d2', '#2f9e44'],
  cas: ['#fde8c6', '#b86e00'],
  delete: ['#eadcf7', '#7048e8'],
};

/** Operations of a user's own service (`simulate({ machine, workload, model })`): one neutral colour. */
const OTHER_OP_COLORS = ['#e9ecef', '#495057'] as const;

/** Whether a history's operation is the key-value service's (the diagram also draws other services' operations, as JSON). */
function isKvOperation(operation: unknown): operation is KvOperation {
  if (operation === null || typeof operation !== 'object') return false;
  const { type, key } = operation as { type?: unknown; key?: unknown };
  return typeof type === 'string' && Object.hasOwn(OP_COLORS, type) && typeof key === 'string';
}

/** A message type as a CSS class name (types from a hand-made result could be anything). */
function typeClass(type: string): string {
  return MESSAGE_COLORS.some(([known]) => known === type) ? `t-${type}` : 't-other';
}


export function renderLegend(): string {
  const arrow = (color: string, dashed = false, cross = false) =>
    `<svg width="34" height="12"><line x1="2" y1="6" x2="26" y2="6" stroke="${color}" stroke-width="2"${
      dashed ? ' stroke-dasharray="3 2"' : ''
    }/>${cross ? crossPath(28, 6, '#c62828') : `<path d="M26 2 L33 6 L26 10 Z" fill="${color}"/>`}</svg>`;
  const box = (fill: string, stroke = 'none', extra = '') =>
    `<svg width="26" height="12"><rect x="1" y="1" width="24" height="10" fill="${fill}" stroke="${stroke}"/>${extra}</svg>`;
  const messages = MESSAGE_COLORS.map(([type, color]) => `<span>${arrow(color)} ${type}</span>`);
  const views = VIEW_TINTS.map((tint) => box(tint)).join('');
  return [
    '<div class="legend">',
    `<div><b>messages</b> ${messages.join(' ')} <span>${arrow('#666', true, true)} dropped (× where it died)</span></div>`,
    `<div><b>replicas</b> <span>${views} view v (tint cycles by view)</span> <span>${box(
      VIEW_TINTS[1]!,
      'none',
      '<rect x="1" y="1" width="24" height="10" fill="url(#legend-vc)"/>',
    )} view change</span> <span>${box(VIEW_TINTS[0]!, 'none', '<rect x="1" y="1" width="24" height="3" fill="#e0a100"/>')} primary (★)</span> <span>${box(
      '#ececec',
    )} booting</span> <span>${box('#2d2f36')} crashed</span> <span>${box('#862e9c')} crashed, disk lost</span> <span>${box(
      'url(#legend-partition)',
      '#d9480f',
    )} partition</span> <span><svg width="12" height="12"><line x1="6" y1="0" x2="6" y2="12" stroke="#2f9e44" stroke-width="2" stroke-dasharray="4 2"/></svg> faults end</span> <span><svg width="12" height="12"><line x1="6" y1="0" x2="6" y2="12" stroke="#c62828" stroke-width="3"/></svg> violation</span> <span><svg width="12" height="12"><path d="M3 2 L9 2 L6 8 Z" fill="#f08c00"/></svg> timer</span></div>`,
    `<div><b>client operations</b> ${Object.entries(OP_COLORS)
      .map(([type, [fill, stroke]]) => `<span>${box(fill, stroke)} ${type}</span>`)
      .join(' ')} <span>${box('url(#legend-indeterminate)', '#888')} indeterminate (to the end)</span> <span class="muted">w k1=17 write · r k0→5 read · cas k2 3→9 ✗ failed compare-and-set · hover for details</span></div>`,
    // Patterns for the legend swatches (the diagram has its own).
    `<svg width="0" height="0" style="position:absolute"><defs>${hatch('legend-vc', '#e08a00', 0.55)}${crossHatch(
      'legend-partition',
      '#d9480f',
      0.5,
    )}${hatch('legend-indeterminate', '#999', 0.6)}</defs></svg>`,
    '</div>',
  ].join('\n');
}

/** Diagonal stripes. */
function hatch(id: string, color: string, opacity: number): string {
  return `<pattern id="${id}" width="7" height="7" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="7" stroke="${color}" stroke-width="2.5" stroke-opacity="${opacity}"/></pattern>`;
}

/** A fine grid, unlike the stripes of a view change. */
function crossHatch(id: string, color: string, opacity: number): string {
  return `<pattern id="${id}" width="10" height="10" patternUnits="userSpaceOnUse"><path d="M0 0.5 H10 M0.5 0 V10" stroke="${color}" stroke-width="1" stroke-opacity="${opacity}" fill="none"/></pattern>`;
}

/** An × centred on (x, y). */
function crossPath(x: number, y: number, color: string): string {
  return `<path d="M${fmt(x - 3.5)} ${fmt(y - 3.5)} L${fmt(x + 3.5)} ${fmt(y + 3.5)} M${fmt(x - 3.5)} ${fmt(y + 3.5)} L${fmt(
    x + 3.5,
  )} ${fmt(y - 3.5)}" stroke="${color}" stroke-width="2" fill="none"/>`;
}

// ---------------------------------------------------------------------------
// The diagram.

export function renderDiagram(model: DiagramModel): string {
  const height = diagramHeight(model);
  const pen = penFor(model);
  const out: string[] = [];
  openDiagram(out, model, height);
  drawReplicaLanes(out, model, pen);
  drawPartitions(out, model, pen);
  // The time axis and grid (redrawn by the script on zoom), and what lies outside the detail window.
  out.push(`<g id="axis">${axisTicks(model.end, model.scale, height)}</g>`);
  if (model.detail.from > 0) out.push(pen.rect(0, model.detail.from, 0, AXIS_H, 'class="omitted"', '<title>message arrows omitted here</title>'));
  if (model.detail.to < model.end) out.push(pen.rect(model.detail.to, model.end, 0, AXIS_H, 'class="omitted"', '<title>message arrows omitted here</title>'));
  drawTimers(out, model, pen);
  drawMessages(out, model, pen);
  drawClientLanes(out, model, pen);
  drawMarks(out, model, pen, height);
  out.push('</svg>');

  return [
    '<div class="diagram">',
    renderLaneLabels(model, height),
    `<div id="scroller">${out.join('\n')}</div>`,
    '</div>',
  ].join('\n');
}

/** Time-anchored elements, as the script expects them (the report's script rescales them): each carries its time span in `data-t`. */
interface Pen {
  /** The x coordinate of time `t`. */
  readonly x: (t: number) => string;
  readonly rect: (a: number, b: number, y: number, h: number, attributes: string, inner?: string) => string;
  readonly line: (a: number, ya: number, b: number, yb: number, attributes: string, inner?: string) => string;
  /** A group translated to time `t`. */
  readonly at: (t: number, inner: string, attributes?: string) => string;
  /** A label at the start of [a, b], hidden when it does not fit in it; the script keeps it in view while [a, b] is partly scrolled off. */
  readonly fitted: (a: number, b: number, inner: string, text: string) => string;
}

function penFor(model: DiagramModel): Pen {
  const x = (t: number) => fmt(PAD + t * model.scale);
  const span = (a: number, b: number) => `data-t="${a} ${b}"`;
  return {
    x,
    rect: (a, b, y, h, attributes, inner = '') =>
      `<rect ${span(a, b)} x="${x(a)}" y="${fmt(y)}" width="${fmt(Math.max(1, (b - a) * model.scale))}" height="${fmt(h)}" ${attributes}>${inner}</rect>`,
    line: (a, ya, b, yb, attributes, inner = '') =>
      `<line ${span(a, b)} x1="${x(a)}" y1="${fmt(ya)}" x2="${x(b)}" y2="${fmt(yb)}" ${attributes}>${inner}</line>`,
    at: (t, inner, attributes = '') => `<g data-t="${t}" transform="translate(${x(t)},0)"${attributes}>${inner}</g>`,
    fitted: (a, b, inner, text) => {
      const need = text.length * CHAR_PX + 6;
      const hidden = (b - a) * model.scale < need ? ' visibility="hidden"' : '';
      return `<g ${span(a, b)} data-fit="${need}" transform="translate(${x(a)},0)"${hidden}>${inner}</g>`;
    },
  };
}

/** The <svg> element, with what the script needs to zoom, and the markers and patterns the diagram uses. */
function openDiagram(out: string[], model: DiagramModel, height: number): void {
  const width = fmt(2 * PAD + model.end * model.scale);
  out.push(
    `<svg id="diagram" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" data-pad="${PAD}" data-end="${model.end}" data-scale="${model.scale}" data-max-scale="${clampScale(
      MAX_SCALE,
      model.end,
    )}" data-axis-h="${AXIS_H}" data-focus-from="${model.focus.from}" data-focus-to="${model.focus.to}">`,
  );
  out.push(
    '<defs>',
    ...MESSAGE_COLORS.map(([type, color]) => arrowMarker(`arrow-${type}`, color)),
    arrowMarker('arrow-other', OTHER_MESSAGE_COLOR),
    hatch('hatch-vc', '#e08a00', 0.45),
    crossHatch('hatch-partition', '#d9480f', 0.2),
    hatch('hatch-indeterminate', '#999', 0.55),
    hatch('hatch-omitted', '#999', 0.35),
    '</defs>',
  );
}

/** Replica lanes: one band per view and status. */
function drawReplicaLanes(out: string[], model: DiagramModel, pen: Pen): void {
  for (let r = 0; r < model.replicas; r++) {
    out.push(`<g class="replica-lane" id="lane-r${r}">`);
    out.push(pen.rect(0, model.end, laneTop(r), LANE_H, 'class="lane-bg"'));
    for (const segment of model.segments.filter((s) => s.r === r)) drawSegment(out, model, pen, segment);
    out.push('</g>');
  }
}

function drawSegment(out: string[], model: DiagramModel, pen: Pen, segment: Segment): void {
  const r = segment.r;
  const y = laneTop(r);
  const primary = segment.status === 'normal' && segment.view !== null && segment.view % model.replicas === r;
  const title = segmentTitle(segment, primary);
  if (segment.status === 'down' || segment.status === 'wiped') {
    const [cls, label] = segment.status === 'down' ? ['crash', 'crashed'] : ['wiped', 'disk lost'];
    out.push(pen.rect(segment.from, segment.to, y, LANE_H, `class="${cls}"`, `<title>${esc(title)}</title>`));
    out.push(pen.fitted(segment.from, segment.to, `<text x="4" y="${fmt(y + 13)}" class="crash-label">${label}</text>`, label));
    return;
  }
  const waiting = segment.status === 'booting' || segment.status === 'recovering';
  const fill = segment.view === null || waiting ? '#ececec' : VIEW_TINTS[segment.view % VIEW_TINTS.length]!;
  out.push(pen.rect(segment.from, segment.to, y, LANE_H, `class="seg s-${esc(segment.status)}" fill="${fill}"`, `<title>${esc(title)}</title>`));
  if (segment.status === 'view-change') out.push(pen.rect(segment.from, segment.to, y, LANE_H, 'class="vc-hatch" fill="url(#hatch-vc)"'));
  if (primary) out.push(pen.rect(segment.from, segment.to, y, 4, 'class="primary-bar"'));
  const label =
    waiting || segment.view === null
      ? segment.status === 'recovering' ? 'recovering (lost disk)' : 'booting'
      : `v${segment.view}${primary ? ' ★' : ''}${segment.status === 'view-change' ? ' view change' : ''}`;
  out.push(pen.fitted(segment.from, segment.to, `<text x="4" y="${fmt(y + 14)}" class="seg-label">${esc(label)}</text>`, label));
}

/** Partitions: an overlay across the replica lanes, the blocked links in the strip above. */
function drawPartitions(out: string[], model: DiagramModel, pen: Pen): void {
  const lanesBottom = laneTop(model.replicas) - LANE_GAP;
  for (const partition of model.partitions) {
    const label = `partition ${linkSummary(partition.blocked)}`;
    const title = `partition ${partition.from}–${partition.to} ms; blocked (from→to): ${partition.blocked
      .map(([a, b]) => `${a}→${b}`)
      .join(', ')}`;
    out.push(
      `<g class="partition">${pen.rect(partition.from, partition.to, LANES_TOP - 2, lanesBottom - LANES_TOP + 4, 'class="partition-area"', `<title>${esc(title)}</title>`)}${pen.rect(
        partition.from,
        partition.to,
        AXIS_H + 2,
        STRIP_H - 4,
        'class="partition-strip"',
      )}${pen.fitted(partition.from, partition.to, `<text x="4" y="${AXIS_H + 14}" class="partition-label">${esc(label)}</text>`, label)}</g>`,
    );
  }
}

/** Timers, as small marks at the top of the lane. */
function drawTimers(out: string[], model: DiagramModel, pen: Pen): void {
  out.push('<g class="timers">');
  for (const timer of model.timers) {
    const y = laneTop(timer.replicaId) + 4;
    const vc = timer.timer !== 'heartbeat' && timer.timer !== 'prepare-retry' && timer.timer !== 'repair-retry';
    out.push(
      pen.at(
        timer.atMs,
        `<path d="M-3.5 ${fmt(y)} L3.5 ${fmt(y)} L0 ${fmt(y + 6)} Z" class="${vc ? 'timer timer-vc' : 'timer'}"><title>${esc(
          `r${timer.replicaId}: timer ${timer.timer} fires at ${timer.atMs} ms`,
        )}</title></path>`,
      ),
    );
  }
  out.push('</g>');
}

/**
 * Messages: arrows from (send time, sender) to (delivery time, receiver). Normal traffic first, so the
 * view-change messages are drawn on top.
 */
function drawMessages(out: string[], model: DiagramModel, pen: Pen): void {
  const ordered = [...model.drawn.filter((m) => !VIEW_CHANGE_TYPES.has(m.type)), ...model.drawn.filter((m) => VIEW_CHANGE_TYPES.has(m.type))];
  out.push('<g class="messages">');
  for (const message of ordered) {
    const y1 = laneMid(message.from);
    const y2 = laneMid(message.to);
    const cls = `msg ${typeClass(message.type)}${VIEW_CHANGE_TYPES.has(message.type) ? ' vc' : ''}`;
    const what = `message ${message.id}, ${message.type} v${message.view}${message.op === undefined ? '' : ` op ${message.op}`}: r${message.from}→r${message.to}, sent ${message.t} ms`;
    for (const t of message.deliveries) {
      out.push(pen.line(message.t, y1, t, y2, `class="${esc(cls)}"`, `<title>${esc(`${what}, delivered ${t} ms`)}</title>`));
    }
    for (const drop of message.drops) {
      const title = `<title>${esc(`${what}, dropped (${drop.reason}) ${drop.t} ms`)}</title>`;
      if (drop.t > message.t) {
        // It travelled and died on arrival (receiver down, or a partition began): dashed all the way, × at the receiver.
        out.push(pen.line(message.t, y1, drop.t, y2, `class="${esc(cls)} dropped"`, title));
        out.push(pen.at(drop.t, crossPath(0, y2, '#c62828'), ' class="drop-x"'));
      } else {
        // Lost at the send (loss, or a partition): a short stub toward the receiver, × at its tip.
        const tipY = y1 + (y2 - y1) * 0.3;
        out.push(
          pen.at(
            message.t,
            `<line x1="0" y1="${fmt(y1)}" x2="12" y2="${fmt(tipY)}" class="${esc(cls)} dropped">${title}</line>${crossPath(12, tipY, '#c62828')}`,
            ' class="drop-x"',
          ),
        );
      }
    }
  }
  out.push('</g>');
}

/** Client operations, one lane per client, below the replicas. */
function drawClientLanes(out: string[], model: DiagramModel, pen: Pen): void {
  let y = clientsTop(model);
  for (const lane of model.clients) {
    out.push(`<g class="client-lane" id="lane-${esc(lane.name)}">`);
    out.push(pen.rect(0, model.end, y, clientLaneHeight(lane), 'class="client-bg"'));
    lane.rows.forEach((row, index) => {
      const rowY = y + 2 + index * ROW_H;
      for (const operation of row) {
        const indeterminate = operation.outcome.type === 'indeterminate';
        const to = indeterminate ? model.end : (operation.returnMs ?? model.end);
        const [fill, stroke] = isKvOperation(operation.operation) ? OP_COLORS[operation.operation.type] : OTHER_OP_COLORS;
        const attributes = indeterminate
          ? 'class="op indeterminate" fill="url(#hatch-indeterminate)" stroke="#888"'
          : `class="op" fill="${fill}" stroke="${stroke}"`;
        const label = opLabel(operation);
        out.push(pen.rect(operation.callMs, to, rowY, ROW_H - 3, attributes, `<title>${esc(opTitle(operation))}</title>`));
        out.push(pen.fitted(operation.callMs, to, `<text x="3" y="${fmt(rowY + 10.5)}" class="op-label">${esc(label)}</text>`, label));
      }
    });
    out.push('</g>');
    y += clientLaneHeight(lane) + CLIENT_GAP;
  }
}

/** Vertical marks over everything: the end of the faults, and violations. */
function drawMarks(out: string[], model: DiagramModel, pen: Pen, height: number): void {
  if (model.faultsEnd !== null) {
    out.push(
      pen.at(
        model.faultsEnd,
        `<line x1="0" y1="${AXIS_H}" x2="0" y2="${height}" class="faults-end"/><text x="4" y="${AXIS_H + 14}" class="faults-end-label">faults end</text>`,
      ),
    );
  }
  // A violation's label hangs just below the strip, on a white flag, so it never collides with a strip label.
  for (const violation of model.violations) {
    const left = violation.atMs > model.end / 2;
    const text = truncate(`VIOLATION: ${violation.message}`, 120);
    const flagW = text.length * 7 + 10;
    const flagY = LANES_TOP + 2;
    out.push(
      pen.at(
        violation.atMs,
        `<line x1="0" y1="${AXIS_H}" x2="0" y2="${height}" class="violation-line"/><rect x="${left ? -3 - flagW : 3}" y="${flagY}" width="${flagW}" height="18" class="violation-flag"/><text x="${
          left ? -8 : 8
        }" y="${flagY + 13}" text-anchor="${left ? 'end' : 'start'}" class="violation-label">${esc(text)}</text><title>${esc(violation.message)}</title>`,
        ' class="violation"',
      ),
    );
  }
}

/** The fixed column on the left: lane names, which stay put while the diagram scrolls. */
function renderLaneLabels(model: DiagramModel, height: number): string {
  const out = [`<svg class="labels" width="${LABELS_W}" height="${height}">`];
  out.push(`<text x="8" y="16" class="axis-name">time (ms)</text>`);
  out.push(`<text x="8" y="${AXIS_H + 14}" class="axis-name">faults</text>`);
  for (let r = 0; r < model.replicas; r++) {
    out.push(`<text x="8" y="${fmt(laneMid(r) + 5)}" class="lane-name">r${r}</text>`);
  }
  let y = clientsTop(model);
  if (model.clients.length > 0) out.push(`<text x="8" y="${fmt(y - 7)}" class="axis-name">clients</text>`);
  for (const lane of model.clients) {
    out.push(`<text x="8" y="${fmt(y + 13)}" class="client-name">${esc(lane.name)}</text>`);
    y += clientLaneHeight(lane) + CLIENT_GAP;
  }
  out.push('</svg>');
  return out.join('\n');
}

function arrowMarker(id: string, color: string): string {
  return `<marker id="${id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" markerUnits="userSpaceOnUse" orient="auto"><path d="M0 1 L10 5 L0 9 Z" fill="${color}"/></marker>`;
}

/**
 * The smallest 1-2-5 step of at least `minMs`. The script has a copy
 * (`niceStep` in report.ts's SCRIPT) to redraw the axis on zoom.
 */
function niceStep(minMs: number): number {
  let step = 1;
  for (;;) {
    for (const factor of [1, 2, 5]) if (step * factor >= minMs) return step * factor;
    step *= 10;
  }
}

/** Ticks every ≥ 90 px, with faint grid lines down the diagram. */
function axisTicks(end: number, scale: number, height: number): string {
  const step = niceStep(90 / scale);
  const out: string[] = [];
  for (let t = 0; t <= end; t += step) {
    const x = fmt(PAD + t * scale);
    out.push(
      `<line x1="${x}" y1="${AXIS_H - 6}" x2="${x}" y2="${height}" class="grid"/><text x="${x}" y="${AXIS_H - 9}" class="tick">${t}</text>`,
    );
  }
  return out.join('');
}

// ---------------------------------------------------------------------------
// Text.

function segmentTitle(segment: Segment, primary: boolean): string {
  const when = `${segment.from}–${segment.to} ms`;
  if (segment.status === 'down') return `r${segment.r} crashed, ${when}`;
  if (segment.status === 'wiped') return `r${segment.r} crashed and lost its disk (it recovers from its peers when it restarts), ${when}`;
  if (segment.view === null || segment.status === 'booting') return `r${segment.r} booting, ${when}`;
  return (
    `r${segment.r}: view ${segment.view}, ${segment.status}${primary ? ' (primary)' : ''}, ${when}; ` +
    `op ${segment.opFrom}→${segment.opTo}, commit ${segment.commitFrom}→${segment.commitTo}`
  );
}

/** Blocked links, compactly: `0↔1` when both directions are cut, `0→1` when only one is. */
function linkSummary(blocked: ReadonlyArray<readonly [number, number]>): string {
  const set = new Set(blocked.map(([a, b]) => `${a}>${b}`));
  const parts: string[] = [];
  for (const [a, b] of blocked) {
    if (set.has(`${b}>${a}`)) {
      if (a < b) parts.push(`${a}↔${b}`);
    } else {
      parts.push(`${a}→${b}`);
    }
  }
  return parts.join(' ');
}

function value(v: unknown): string {
  return truncate(typeof v === 'string' ? JSON.stringify(v) : String(v), 12);
}

/** `w k1=17`, `r k0→5`, `r k0→∅`, `cas k2 3→9 ✗`, `del k1`; `?` when the outcome is unknown. */
function opLabel(operation: HistoryOperation): string {
  const op = operation.operation;
  if (!isKvOperation(op)) return `${truncate(JSON.stringify(op) ?? String(op), 24)}${operation.outcome.type === 'ok' ? '' : ' ?'}`;
  const result = operation.outcome.type === 'ok' ? operation.outcome.result : null;
  const failed = result !== null && !result.ok ? ' ✗' : '';
  const unknown = result === null ? ' ?' : '';
  switch (op.type) {
    case 'read':
      return `r ${op.key}${result === null ? '' : `→${result.ok && 'value' in result ? value(result.value) : '∅'}`}${unknown}`;
    case 'write':
      return `w ${op.key}=${value(op.value)}${unknown}`;
    case 'cas':
      return `cas ${op.key} ${value(op.expected)}→${value(op.value)}${failed}${unknown}`;
    case 'delete':
      return `del ${op.key}${unknown}`;
  }
}

function opTitle(operation: HistoryOperation): string {
  const op = operation.operation;
  if (!isKvOperation(op)) {
    const outcome = operation.outcome.type === 'ok' ? `returned ${operation.returnMs} ms: ${JSON.stringify(operation.outcome.result)}` : 'indeterminate: the client never learned the outcome';
    return `${operation.clientId} #${operation.id}: ${JSON.stringify(op)}; called ${operation.callMs} ms, ${outcome}`;
  }
  const what =
    op.type === 'read'
      ? `read ${op.key}`
      : op.type === 'write'
        ? `write ${op.key} = ${JSON.stringify(op.value)}`
        : op.type === 'cas'
          ? `compare-and-set ${op.key}: ${JSON.stringify(op.expected)} → ${JSON.stringify(op.value)}`
          : `delete ${op.key}`;
  const outcome =
    operation.outcome.type === 'ok'
      ? `returned ${operation.returnMs} ms (${(operation.returnMs ?? operation.callMs) - operation.callMs} ms): ${resultText(operation.outcome.result)}`
      : 'indeterminate: the client never learned the outcome';
  return `${operation.clientId} #${operation.id}: ${what}; called ${operation.callMs} ms, ${outcome}`;
}

function resultText(result: KvResult): string {
  if (!result.ok) return result.error === 'precondition-failed' ? `precondition failed (actual ${JSON.stringify(result.actual)})` : result.error;
  if ('value' in result) return `value ${JSON.stringify(result.value)}`;
  if ('existed' in result) return result.existed ? 'ok (existed)' : 'ok (did not exist)';
  return 'ok';
}

function validReplica(r: number, replicas: number): boolean {
  return Number.isInteger(r) && r >= 0 && r < replicas;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML and SVG content and attribute values. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

// ---------------------------------------------------------------------------
// CSS.

/** The diagram's style rules (the legend's too), for a page that shows it. */
export function diagramCss(): string {
  const messageRules = [...MESSAGE_COLORS, ['other', OTHER_MESSAGE_COLOR] as const]
    .map(([type, color]) => `.t-${type}{stroke:${color};marker-end:url(#arrow-${type})}`)
    .join('\n');
  return `.legend{padding:6px 20px;font-size:12px;line-height:20px}
.legend span{white-space:nowrap;margin-right:8px}
.legend svg{vertical-align:middle}
.legend b{margin-right:6px}
.diagram{display:flex;background:#fff;border-top:1px solid #d8dce3;border-bottom:1px solid #d8dce3}
.labels{flex:none;border-right:1px solid #d8dce3;background:#fff}
#scroller{overflow-x:auto;flex:1}
#diagram{display:block}
text{font-size:10px;fill:#333}
.axis-name{font-size:11px;fill:#687080}
.lane-name{font-size:15px;font-weight:700}
.client-name{font-size:12px;font-weight:600}
.tick{text-anchor:middle;fill:#687080}
.grid{stroke:#000;stroke-opacity:.07}
.lane-bg{fill:#f4f4f4}
.client-bg{fill:#f8f9fb}
.seg-label{font-weight:600;fill:#3b4252}
.primary-bar{fill:#e0a100}
.crash{fill:#2d2f36}
.wiped{fill:#862e9c}
.crash-label{fill:#fff;font-weight:600}
.partition-area{fill:url(#hatch-partition);stroke:#d9480f;stroke-opacity:.5;stroke-dasharray:4 3}
.partition-strip{fill:#ffe3d3}
.partition-label{fill:#a33a0b;font-weight:600}
.omitted{fill:url(#hatch-omitted)}
.timer{fill:#9aa3b2}
.timer-vc{fill:#f08c00}
.msg{stroke-width:1.2;fill:none;stroke-opacity:.75}
.msg.vc{stroke-width:2.2;stroke-opacity:1}
.msg.dropped{stroke-dasharray:3 2;marker-end:none}
.msg:hover{stroke-width:3.5;stroke-opacity:1}
${messageRules}
.op{stroke-width:1}
.op:hover{stroke-width:2.5}
.op-label{pointer-events:none;fill:#1d2330}
g[data-fit]{pointer-events:none}
.faults-end{stroke:#2f9e44;stroke-width:2;stroke-dasharray:6 3}
.faults-end-label{fill:#1a7f37;font-weight:700}
.violation-line{stroke:#c62828;stroke-width:3}
.violation-flag{fill:#fff;fill-opacity:.92;stroke:#c62828;stroke-width:1.5}
.violation-label{fill:#c62828;font-weight:700;font-size:12px}
`;
}
