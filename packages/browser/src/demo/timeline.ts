/**
 * The demo's live space-time diagram: what the page observes of its replicas
 * (their state changes, the messages they send and receive, the crashes,
 * wipes and partitions the user causes), kept for a sliding window of the
 * last `windowMs` and drawn with the simulator report's renderer
 * (@vsr/simulator/diagram).
 *
 * Times are the page's own clock when an observation arrives: workers have
 * clocks of their own (another time origin), and one clock keeps the events
 * in order. A delivery reported before its send (two workers' reports race
 * to the page) is held until the send arrives.
 *
 * Events older than the window are folded into a baseline, so the window
 * opens with each replica's lane in the state it was in then (up, crashed,
 * its view and status) and any partition that was open.
 */
import { buildDiagram, renderDiagram, type DiagramEvent, type DiagramInput, type HistoryOperation } from '@vsr/simulator/diagram';

/** A DiagramEvent without its time: the timeline stamps it. */
export type Observation = DiagramEvent extends infer E ? (E extends DiagramEvent ? Omit<E, 'atMs'> : never) : never;

type StateEvent = Extract<DiagramEvent, { kind: 'state' }>;

interface LaneBaseline {
  /** The last state seen before the window; null after a restart until the next one. */
  state: StateEvent | null;
  down: 'crash' | 'wipe' | null;
}

export interface LiveTimelineOptions {
  readonly replicaCount: number;
  /** How much of the past is drawn. */
  readonly windowMs: number;
  /** Arrows for at most this many of the newest messages (SVG gets slow beyond a few thousand). */
  readonly arrowsMax: number;
  /** At most this many of the newest client operations (each redraw lays them out in lanes on the page's main thread, where the clients run). */
  readonly operationsMax: number;
  readonly nowMs: () => number;
}

export class LiveTimeline {
  private events: DiagramEvent[] = [];
  private readonly lanes: LaneBaseline[];
  private blocked: ReadonlyArray<readonly [number, number]> | null = null;
  /** Deliveries whose send has not been observed yet, by message id. */
  private readonly early = new Map<number, Array<Extract<DiagramEvent, { kind: 'deliver' }>>>();
  private readonly sent = new Set<number>();

  constructor(private readonly options: LiveTimelineOptions) {
    if (!(options.windowMs > 0)) throw new Error(`LiveTimeline: windowMs must be positive, got ${options.windowMs}`);
    this.lanes = Array.from({ length: options.replicaCount }, () => ({ state: null, down: null }));
  }

  record(observation: Observation): void {
    const atMs = Math.max(this.options.nowMs(), this.events.at(-1)?.atMs ?? 0);
    const event: DiagramEvent = { ...observation, atMs };
    if (event.kind === 'deliver' && !this.sent.has(event.id)) {
      const waiting = this.early.get(event.id) ?? [];
      waiting.push(event);
      this.early.set(event.id, waiting);
      return;
    }
    this.events.push(event);
    if (event.kind === 'send') {
      this.sent.add(event.id);
      for (const delivery of this.early.get(event.id) ?? []) this.events.push({ ...delivery, atMs });
      this.early.delete(event.id);
    }
  }

  /** The diagram's input for the window ending now, times relative to the window's start. */
  input(history: readonly HistoryOperation[]): DiagramInput {
    const nowMs = this.options.nowMs();
    const startMs = nowMs - this.options.windowMs;
    this.prune(startMs);
    const shifted = this.events.filter((event) => event.atMs >= startMs).map((event) => ({ ...event, atMs: event.atMs - startMs }));
    const events = [...this.baselineEvents(), ...this.newestArrows(shifted)];
    // From the end, so a busy window stops after the newest operationsMax.
    const recent: HistoryOperation[] = [];
    for (let i = history.length - 1; i >= 0 && recent.length < this.options.operationsMax; i--) {
      const op = history[i]!;
      if ((op.returnMs ?? Infinity) >= startMs) recent.push(op);
    }
    const operations = recent
      .reverse()
      .map((op) => ({ ...op, callMs: Math.max(0, op.callMs - startMs), returnMs: op.returnMs === null ? null : op.returnMs - startMs }));
    return { replicas: this.options.replicaCount, endMs: this.options.windowMs, events, history: operations, focusMs: { from: 0, to: this.options.windowMs } };
  }

  /** The window as SVG markup, `viewPx` wide. */
  render(history: readonly HistoryOperation[], viewPx: number): string {
    return renderDiagram(buildDiagram({ ...this.input(history), viewPx }));
  }

  /** Folds what fell out of the window into the lanes' baseline. */
  private prune(startMs: number): void {
    let cut = 0;
    while (cut < this.events.length && this.events[cut]!.atMs < startMs) cut++;
    for (const event of this.events.slice(0, cut)) this.fold(event);
    this.events = this.events.slice(cut);
    if (this.sent.size > 4 * this.options.arrowsMax) {
      const live = new Set(this.events.flatMap((event) => (event.kind === 'send' ? [event.id] : [])));
      for (const id of this.sent) if (!live.has(id)) this.sent.delete(id);
    }
  }

  private fold(event: DiagramEvent): void {
    const lane = 'replicaId' in event ? this.lanes[event.replicaId] : undefined;
    switch (event.kind) {
      case 'state':
        if (lane !== undefined) Object.assign(lane, { state: event, down: null });
        return;
      case 'crash':
      case 'wipe':
        if (lane !== undefined) lane.down = event.kind;
        return;
      case 'restart':
        if (lane !== undefined) Object.assign(lane, { state: null, down: null });
        return;
      case 'partition':
        this.blocked = event.blocked;
        return;
      case 'heal':
        this.blocked = null;
        return;
      default:
        return; // messages, timers and marks of the past are not drawn
    }
  }

  /** Each lane as it was at the window's start, and the partition then open. */
  private baselineEvents(): DiagramEvent[] {
    const out: DiagramEvent[] = [];
    this.lanes.forEach((lane, replicaId) => {
      if (lane.state !== null) out.push({ ...lane.state, atMs: 0 });
      if (lane.down !== null) out.push({ atMs: 0, kind: lane.down, replicaId });
    });
    if (this.blocked !== null) out.push({ atMs: 0, kind: 'partition', blocked: this.blocked });
    return out;
  }

  /** The window's events with only the newest `arrowsMax` messages kept. */
  private newestArrows(events: DiagramEvent[]): DiagramEvent[] {
    const sends = events.filter((event) => event.kind === 'send');
    if (sends.length <= this.options.arrowsMax) return events;
    const oldestKept = sends[sends.length - this.options.arrowsMax]!.atMs;
    const dropped = new Set(sends.filter((event) => event.atMs < oldestKept).map((event) => event.id));
    return events.filter((event) => !((event.kind === 'send' || event.kind === 'deliver' || event.kind === 'drop') && dropped.has(event.id)));
  }
}
