/**
 * A linearizability checker over any `Model` (model.ts), in the style of Porcupine: the Wing &
 * Gong search with Lowe's memoisation ("WGL"), run on each part of the model's partition
 * separately (P-compositionality: a history is linearizable iff every part is).
 *
 * Time model (the same as `linearizability.ts`'s)
 * - An operation takes effect atomically at one instant in [callMs, returnMs]. Intervals are
 *   closed: calls sort before returns at equal times, so no violation ever rests on a clock tie.
 * - An indeterminate op (returnMs null) may take effect at any instant after callMs, or never.
 *   "Never" is equivalent to "after every other op", where nothing observes it, so a part is
 *   linearizable as soon as every determinate op is placed; the indeterminate ops left over
 *   are taken never to have happened. They have a call event and no return (no deadline).
 *
 * Search: the events (calls and returns) sit in a doubly linked list in time order. Walking
 * from the head, every call met before the first return is a candidate to take effect next.
 * Placing one steps the model (for each state `step` allows: nondeterminism branches),
 * unlinks the op's events and restarts from the head. When no candidate fits, the first
 * return's op has missed its deadline, so the search undoes the last placement and tries its
 * next branch or the next candidate. Nodes (set of placed ops, `stateKey` of the state) reached
 * before cannot lead anywhere new and are never re-entered: the memo that keeps WGL tractable.
 * An indeterminate op that leaves the state as it was is never placed there: moving it to
 * "never" changes nothing any later op sees, and skipping it keeps such ops from multiplying
 * the nodes.
 *
 * A budget of search steps (one candidate branch tried, or one backtrack) and of wall time,
 * shared by all parts, turns an over-long search into an honest `unknown`, never a guess.
 */
import type { Model, ModelOperation } from '../model.js';
import { Bitset, EventList, VisitedNodes } from './search-structures.js';
import { validateOperationShapes } from './history-shape.js';

export interface CheckOptions {
  /** Search steps allowed over all parts together. Default 10,000,000. */
  readonly stepsMax?: number;
  /** Wall time allowed, in ms. Default: no limit. */
  readonly timeoutMs?: number;
  /** The clock for `timeoutMs` (tests pass a fake one). Default `performance.now`. */
  readonly nowMs?: () => number;
}

interface Counts {
  readonly operationCount: number;
  readonly partCount: number;
  /** Parts whose search ran: all, or up to the one that failed or ran out of budget. */
  readonly partsChecked: number;
  readonly searchSteps: number;
}

export type CheckResult =
  | ({ readonly verdict: 'linearizable' } & Counts)
  | ({
      readonly verdict: 'not-linearizable';
      /** Index of the failing part in the model's partition. */
      readonly part: number;
      readonly partOperationIds: readonly number[];
      /** The longest linearizable prefix found, in linearization order. */
      readonly prefixIds: readonly number[];
      /** The determinate ops that were due and could not follow that prefix. */
      readonly blockedIds: readonly number[];
      readonly prefixDescribed: readonly string[];
      readonly blockedDescribed: readonly string[];
      readonly explanation: string;
    } & Counts)
  | ({ readonly verdict: 'unknown'; readonly reason: string } & Counts);

export const CHECK_STEPS_MAX_DEFAULT = 10_000_000;

/** How often (in search steps) the wall clock is read. */
const CLOCK_EVERY_STEPS = 1024;

export function checkHistory<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly ModelOperation<Input, Output>[],
  options: CheckOptions = {},
): CheckResult {
  const stepsMax = options.stepsMax ?? CHECK_STEPS_MAX_DEFAULT;
  if (!Number.isSafeInteger(stepsMax) || stepsMax < 0) throw new Error(`checkHistory: stepsMax must be a non-negative integer, got ${stepsMax}`);
  const { timeoutMs } = options;
  if (timeoutMs !== undefined && !(timeoutMs >= 0)) throw new Error(`checkHistory: timeoutMs must be a non-negative number, got ${timeoutMs}`);
  validateHistory(history);
  const parts = model.partition?.(history) ?? [history];
  const nowMs = options.nowMs ?? (() => performance.now());
  const budget: Budget = { stepsMax, steps: 0, nowMs, deadlineMs: timeoutMs === undefined ? Infinity : nowMs() + timeoutMs, timeoutMs };
  const describe = (op: ModelOperation<Input, Output>): string => model.describeOperation?.(op) ?? defaultDescription(op);
  let partsChecked = 0;
  for (const [part, ops] of parts.entries()) {
    partsChecked++;
    const outcome = new PartSearch(model, ops).run(budget);
    const counts = (): Counts => ({ operationCount: history.length, partCount: parts.length, partsChecked, searchSteps: budget.steps });
    if (outcome.kind === 'unknown') return { verdict: 'unknown', reason: outcome.reason, ...counts() };
    if (outcome.kind === 'linearizable') continue;
    const byId = new Map(ops.map((op) => [op.id, op]));
    const described = (ids: readonly number[]): string[] => ids.map((id) => describe(byId.get(id)!));
    const prefixDescribed = described(outcome.prefixIds);
    const blockedDescribed = described(outcome.blockedIds);
    const explanation =
      `part ${part} (${ops.length} ops): no linearization; the longest linearizable prefix found has ${outcome.prefixIds.length} ops` +
      `${prefixDescribed.length > 0 ? ` (${prefixDescribed.join(', ')})` : ''}, after which none of ${blockedDescribed.join(', ')} can take effect`;
    return {
      verdict: 'not-linearizable',
      part,
      partOperationIds: ops.map((op) => op.id),
      prefixIds: outcome.prefixIds,
      blockedIds: outcome.blockedIds,
      prefixDescribed,
      blockedDescribed,
      explanation,
      ...counts(),
    };
  }
  return { verdict: 'linearizable', operationCount: history.length, partCount: parts.length, partsChecked, searchSteps: budget.steps };
}

function defaultDescription(op: ModelOperation<unknown, unknown>): string {
  const output = op.returnMs === null ? '(indeterminate)' : `→ ${JSON.stringify(op.output) ?? 'unknown'}`;
  return `#${op.id} ${JSON.stringify(op.input)} ${output}`;
}

/** Refuses a history the search cannot make sense of, naming the op and what is wrong. */
export function validateHistory(history: readonly ModelOperation<unknown, unknown>[]): void {
  validateOperationShapes(history, 'checkHistory', {
    outcome: (op, fail) => {
      if (op.returnMs === null && op.output !== undefined) fail('an indeterminate op (returnMs null) cannot have an output');
    },
  });
}

interface Budget {
  readonly stepsMax: number;
  steps: number;
  readonly nowMs: () => number;
  readonly deadlineMs: number;
  readonly timeoutMs: number | undefined;
}

type PartOutcome =
  | { readonly kind: 'linearizable' }
  | { readonly kind: 'not-linearizable'; readonly prefixIds: number[]; readonly blockedIds: number[] }
  | { readonly kind: 'unknown'; readonly reason: string };

/** The states a step may lead to, with their keys. */
interface Successors<State> {
  readonly states: readonly State[];
  readonly keys: readonly string[];
}

/** One placement on the search stack: enough to undo it and resume after it. */
interface Frame<State> {
  readonly event: number;
  readonly op: number;
  readonly stateBefore: State;
  readonly keyBefore: string;
  readonly branch: number;
}

/** The WGL search on one part's operations. */
class PartSearch<State, Input, Output> {
  /** Op i's call event and return event (-1: indeterminate, no return). */
  private readonly callOf: Int32Array;
  private readonly returnOf: Int32Array;
  private readonly eventOp: Int32Array;
  private readonly eventIsReturn: Uint8Array;
  private readonly determinateCount: number;
  /** Memoised steps per op: state key → next states (only those a placement may use). */
  private readonly stepCache: Map<string, Successors<State>>[];
  private readonly list: EventList;
  private readonly placed: Bitset;
  private readonly visited = new VisitedNodes();
  private best: { prefix: number[]; blocked: number[] } = { prefix: [], blocked: [] };

  constructor(
    private readonly model: Model<State, Input, Output>,
    private readonly ops: readonly ModelOperation<Input, Output>[],
  ) {
    const events: { timeMs: number; isReturn: boolean; op: number; id: number }[] = [];
    ops.forEach((op, index) => {
      events.push({ timeMs: op.callMs, isReturn: false, op: index, id: op.id });
      if (op.returnMs !== null) events.push({ timeMs: op.returnMs, isReturn: true, op: index, id: op.id });
    });
    // Time order; calls before returns at equal times (closed intervals); ties by id, so the
    // verdict never depends on the order of the input array.
    events.sort((a, b) => a.timeMs - b.timeMs || Number(a.isReturn) - Number(b.isReturn) || a.id - b.id);
    this.eventOp = Int32Array.from(events, (event) => event.op);
    this.eventIsReturn = Uint8Array.from(events, (event) => (event.isReturn ? 1 : 0));
    this.callOf = new Int32Array(ops.length);
    this.returnOf = new Int32Array(ops.length).fill(-1);
    events.forEach((event, index) => {
      if (event.isReturn) this.returnOf[event.op] = index;
      else this.callOf[event.op] = index;
    });
    this.determinateCount = ops.filter((op) => op.returnMs !== null).length;
    this.stepCache = ops.map(() => new Map<string, Successors<State>>());
    this.list = new EventList(events.length);
    this.placed = new Bitset(ops.length);
  }

  run(budget: Budget): PartOutcome {
    let state = this.model.init();
    let key = this.model.stateKey(state);
    this.visited.add(this.placed, key);
    const stack: Frame<State>[] = [];
    let placedDeterminate = 0;
    let event = this.list.first();
    let branch = 0;
    for (;;) {
      if (placedDeterminate === this.determinateCount) return { kind: 'linearizable' };
      const exhausted = this.spend(budget);
      if (exhausted !== null) return { kind: 'unknown', reason: exhausted };
      if (event !== -1 && this.eventIsReturn[event] === 0) {
        const op = this.eventOp[event]!;
        const nexts = this.nextStates(op, state, key);
        const chosen = this.firstNewBranch(op, nexts.keys, branch);
        if (chosen === -1) {
          event = this.list.next(event);
          branch = 0;
          continue;
        }
        stack.push({ event, op, stateBefore: state, keyBefore: key, branch: chosen });
        state = nexts.states[chosen]!;
        key = nexts.keys[chosen]!;
        this.lift(op);
        if (this.ops[op]!.returnMs !== null) placedDeterminate++;
        event = this.list.first();
        branch = 0;
        continue;
      }
      // No candidate fits: the first return's op cannot be placed in time. Backtrack.
      this.recordDeadEnd(stack);
      const frame = stack.pop();
      if (frame === undefined) return { kind: 'not-linearizable', prefixIds: this.best.prefix, blockedIds: this.best.blocked };
      this.unlift(frame.op);
      if (this.ops[frame.op]!.returnMs !== null) placedDeterminate--;
      state = frame.stateBefore;
      key = frame.keyBefore;
      event = frame.event;
      branch = frame.branch + 1;
    }
  }

  /** Counts one step; returns why the budget ran out, or null. */
  private spend(budget: Budget): string | null {
    budget.steps++;
    if (budget.steps > budget.stepsMax) return `the search-step budget (${budget.stepsMax}) ran out`;
    if (budget.steps % CLOCK_EVERY_STEPS === 0 && budget.nowMs() > budget.deadlineMs) {
      return `the time budget (${budget.timeoutMs} ms) ran out`;
    }
    return null;
  }

  /** The states op may leave from `state`; for an indeterminate op, only those that differ from it. */
  private nextStates(op: number, state: State, key: string): Successors<State> {
    const cache = this.stepCache[op]!;
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    const source = this.ops[op]!;
    const states: State[] = [];
    const keys: string[] = [];
    for (const next of this.model.step(state, source.input, source.output)) {
      const nextKey = this.model.stateKey(next);
      if (source.returnMs === null && nextKey === key) continue;
      if (keys.includes(nextKey)) continue; // the same state twice is one branch
      states.push(next);
      keys.push(nextKey);
    }
    const successors = { states, keys };
    cache.set(key, successors);
    return successors;
  }

  /** The first branch from `from` on whose node is new (and then recorded), or -1. */
  private firstNewBranch(op: number, keys: readonly string[], from: number): number {
    for (let branch = from; branch < keys.length; branch++) {
      this.placed.add(op);
      const isNew = this.visited.add(this.placed, keys[branch]!);
      this.placed.remove(op);
      if (isNew) return branch;
    }
    return -1;
  }

  private lift(op: number): void {
    this.placed.add(op);
    this.list.unlink(this.callOf[op]!);
    const ret = this.returnOf[op]!;
    if (ret !== -1) this.list.unlink(ret);
  }

  /** Undoes `lift(op)`; must undo the most recent lift still in force. */
  private unlift(op: number): void {
    this.placed.remove(op);
    const ret = this.returnOf[op]!;
    if (ret !== -1) this.list.relink(ret);
    this.list.relink(this.callOf[op]!);
  }

  /** Keeps the deepest dead end: its prefix, and the determinate ops due there. */
  private recordDeadEnd(stack: readonly Frame<State>[]): void {
    if (stack.length < this.best.prefix.length || (stack.length === this.best.prefix.length && this.best.blocked.length > 0)) return;
    const blocked: number[] = [];
    for (let event = this.list.first(); event !== -1; event = this.list.next(event)) {
      const op = this.eventOp[event]!;
      if (this.eventIsReturn[event] === 1) {
        blocked.push(this.ops[op]!.id);
        break;
      }
      if (this.ops[op]!.returnMs !== null) blocked.push(this.ops[op]!.id);
    }
    this.best = { prefix: stack.map((frame) => this.ops[frame.op]!.id), blocked: [...new Set(blocked)] };
  }
}
