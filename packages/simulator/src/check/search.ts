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
  return searchHistory(model, history, { stepsMax, timeoutMs, nowMs: options.nowMs });
}

/** `checkHistory` on a history already validated (with its options checked): the key-value adapter validates in its own terms. */
export function searchHistory<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly ModelOperation<Input, Output>[],
  options: { readonly stepsMax: number; readonly timeoutMs: number | undefined; readonly nowMs: (() => number) | undefined },
): CheckResult {
  const { stepsMax, timeoutMs } = options;
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

/** One placement on the search stack: enough to undo it and resume after it. */
interface Frame {
  /** The walk it was chosen in, and where: an event of the list, or an index into the pending ops. */
  readonly walk: number;
  readonly position: number;
  /** The rank of the first return at that node (the deadline of the pending walk). */
  readonly deadlineRank: number;
  readonly op: number;
  readonly stateBefore: number;
  readonly branch: number;
}

/** The walk over a node's candidates: determinate calls first, then indeterminate ones. */
const WALKING_DETERMINATE = 0;
const WALKING_PENDING = 1;

/**
 * The WGL search on one part's operations. The determinate ops' events (calls and returns) sit
 * in the linked list; the indeterminate ops ("pending": no return, no deadline) sit in an array
 * in call order, and a node's pending candidates are those invoked before its first return.
 * States are interned: each distinct `stateKey` gets a small number once, so the memo and the
 * step cache compare numbers, not strings.
 *
 * Two rules keep indeterminate ops (a candidate at every node) from multiplying the nodes, as
 * in Lowe's refinements of WGL:
 * - Twins: of indeterminate ops with the same input, the earliest invoked is used first. Any
 *   linearization can give the j-th use of such ops to the j-th earliest invoked (it was
 *   invoked by then, and no op can tell them apart), so nothing is lost.
 * - Dominance: a node (determinate ops placed, indeterminate ops used, state) is pruned when a
 *   node reached before had the same determinate ops and state and used a subset of its
 *   indeterminate ops. Candidates depend only on the determinate ops placed (only they have
 *   deadlines), so every move from the new node has a counterpart from the old one leading to a
 *   node that again dominates; if the old one led nowhere, neither does the new one. Trying
 *   determinate candidates first makes the nodes with fewer indeterminate ops come first.
 */
class PartSearch<State, Input, Output> {
  /** The list's events: their op and whether each is a return, and their rank in the time order of all events. */
  private readonly eventOp: Int32Array;
  private readonly eventIsReturn: Uint8Array;
  private readonly eventRank: Int32Array;
  /** Per determinate op (by its index among them), its call and return events in the list. */
  private readonly callOf: Int32Array;
  private readonly returnOf: Int32Array;
  /** The indeterminate ops in call order: op index, call rank, and the previous twin's index here (-1: none). */
  private readonly pendingOp: Int32Array;
  private readonly pendingRank: Int32Array;
  private readonly previousTwin: Int32Array;
  /** Op i's index among the determinate ops (in `placed`) or among the pending ones (in `used`). */
  private readonly memberOf: Int32Array;
  /** Memoised steps per op: state number → the numbers of the next states a placement may use. */
  private readonly stepCache: (Map<number, readonly number[]> | undefined)[];
  private readonly stateNumbers = new Map<string, number>();
  private readonly states: State[] = [];
  private readonly list: EventList;
  /** The determinate ops placed, and the pending ops used. */
  private readonly placed: Bitset;
  private readonly used: Bitset;
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
    // One pass over the sorted events fills the list's arrays and the pending ops' (plain loops:
    // this runs once per part, on every history the simulator checks).
    const determinateCount = ops.reduce((count, op) => count + (op.returnMs === null ? 0 : 1), 0);
    const pendingCount = ops.length - determinateCount;
    this.memberOf = new Int32Array(ops.length);
    this.eventOp = new Int32Array(2 * determinateCount);
    this.eventIsReturn = new Uint8Array(2 * determinateCount);
    this.eventRank = new Int32Array(2 * determinateCount);
    this.callOf = new Int32Array(determinateCount);
    this.returnOf = new Int32Array(determinateCount);
    this.pendingOp = new Int32Array(pendingCount);
    this.pendingRank = new Int32Array(pendingCount);
    let listed = 0;
    let determinate = 0;
    let pending = 0;
    for (let rank = 0; rank < events.length; rank++) {
      const { op, isReturn } = events[rank]!;
      if (ops[op]!.returnMs === null) {
        this.memberOf[op] = pending;
        this.pendingOp[pending] = op;
        this.pendingRank[pending++] = rank;
        continue;
      }
      if (!isReturn) this.memberOf[op] = determinate++;
      const member = this.memberOf[op]!;
      (isReturn ? this.returnOf : this.callOf)[member] = listed;
      this.eventOp[listed] = op;
      this.eventIsReturn[listed] = isReturn ? 1 : 0;
      this.eventRank[listed++] = rank;
    }
    this.previousTwin = this.twins();
    this.stepCache = new Array<Map<number, readonly number[]> | undefined>(ops.length);
    this.list = new EventList(listed);
    this.placed = new Bitset(determinateCount);
    this.used = new Bitset(pendingCount);
  }

  /** Each pending op's previous twin (the same input, invoked earlier), by index among the pending. */
  private twins(): Int32Array {
    const previousTwin = new Int32Array(this.pendingOp.length).fill(-1);
    const lastByInput = new Map<string, number>();
    this.pendingOp.forEach((op, index) => {
      const input = JSON.stringify(this.ops[op]!.input) ?? '';
      previousTwin[index] = lastByInput.get(input) ?? -1;
      lastByInput.set(input, index);
    });
    return previousTwin;
  }

  private stateNumber(state: State): number {
    const key = this.model.stateKey(state);
    const known = this.stateNumbers.get(key);
    if (known !== undefined) return known;
    const number = this.states.length;
    this.states.push(state);
    this.stateNumbers.set(key, number);
    return number;
  }

  run(budget: Budget): PartOutcome {
    const determinateCount = this.callOf.length;
    let state = this.stateNumber(this.model.init());
    this.visited.add(this.placed, this.used, state);
    const stack: Frame[] = [];
    let walk = WALKING_DETERMINATE;
    let position = this.list.first();
    let deadlineRank = 0;
    let branch = 0;
    for (;;) {
      if (this.placed.size === determinateCount) return { kind: 'linearizable' };
      const exhausted = this.spend(budget);
      if (exhausted !== null) return { kind: 'unknown', reason: exhausted };
      const op = this.candidateAt(walk, position, deadlineRank);
      if (op >= 0) {
        const nexts = this.nextStates(op, state);
        const chosen = this.firstNewBranch(op, nexts, branch);
        if (chosen !== -1) {
          stack.push({ walk, position, deadlineRank, op, stateBefore: state, branch: chosen });
          state = nexts[chosen]!;
          this.lift(op);
          walk = WALKING_DETERMINATE;
          position = this.list.first();
          branch = 0;
          continue;
        }
      }
      if (op !== NO_MORE) {
        position = walk === WALKING_DETERMINATE ? this.list.next(position) : position + 1;
        branch = 0;
        continue;
      }
      if (walk === WALKING_DETERMINATE) {
        // The list's first return: the deadline. Now the pending ops invoked before it.
        deadlineRank = this.eventRank[position]!;
        walk = WALKING_PENDING;
        position = 0;
        branch = 0;
        continue;
      }
      // No candidate fits: the first return's op cannot be placed in time. Backtrack.
      this.recordDeadEnd(stack);
      const frame = stack.pop();
      if (frame === undefined) return { kind: 'not-linearizable', prefixIds: this.best.prefix, blockedIds: this.best.blocked };
      this.unlift(frame.op);
      ({ walk, position, deadlineRank, stateBefore: state } = frame);
      branch = frame.branch + 1;
    }
  }

  /** The op at this point of the walk if it is a candidate, SKIP if it is not, NO_MORE at the walk's end. */
  private candidateAt(walk: number, position: number, deadlineRank: number): number {
    if (walk === WALKING_DETERMINATE) {
      // The walk always meets a return before the list ends: every unplaced determinate op has one.
      return this.eventIsReturn[position] === 1 ? NO_MORE : this.eventOp[position]!;
    }
    if (position >= this.pendingOp.length || this.pendingRank[position]! > deadlineRank) return NO_MORE;
    if (this.used.has(position)) return SKIP;
    const twin = this.previousTwin[position]!;
    return twin === -1 || this.used.has(twin) ? this.pendingOp[position]! : SKIP;
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
  private nextStates(op: number, state: number): readonly number[] {
    let cache = this.stepCache[op];
    if (cache === undefined) this.stepCache[op] = cache = new Map<number, readonly number[]>();
    const cached = cache.get(state);
    if (cached !== undefined) return cached;
    const source = this.ops[op]!;
    const nexts: number[] = [];
    for (const next of this.model.step(this.states[state]!, source.input, source.output)) {
      const number = this.stateNumber(next);
      if (source.returnMs === null && number === state) continue;
      if (!nexts.includes(number)) nexts.push(number); // the same state twice is one branch
    }
    cache.set(state, nexts);
    return nexts;
  }

  /** The first branch from `from` on whose node is new (and then recorded), or -1. */
  private firstNewBranch(op: number, nexts: readonly number[], from: number): number {
    const set = this.ops[op]!.returnMs === null ? this.used : this.placed;
    const member = this.memberOf[op]!;
    for (let branch = from; branch < nexts.length; branch++) {
      set.add(member);
      const isNew = this.visited.add(this.placed, this.used, nexts[branch]!);
      set.remove(member);
      if (isNew) return branch;
    }
    return -1;
  }

  private lift(op: number): void {
    const member = this.memberOf[op]!;
    if (this.ops[op]!.returnMs === null) return this.used.add(member);
    this.placed.add(member);
    this.list.lift(this.callOf[member]!, this.returnOf[member]!);
  }

  /** Undoes `lift(op)`; must undo the most recent lift still in force. */
  private unlift(op: number): void {
    const member = this.memberOf[op]!;
    if (this.ops[op]!.returnMs === null) return this.used.remove(member);
    this.placed.remove(member);
    this.list.unlift(this.callOf[member]!, this.returnOf[member]!);
  }

  /** Keeps the deepest dead end: its prefix, and the determinate ops due there. */
  private recordDeadEnd(stack: readonly Frame[]): void {
    if (stack.length < this.best.prefix.length || (stack.length === this.best.prefix.length && this.best.blocked.length > 0)) return;
    const blocked: number[] = [];
    for (let event = this.list.first(); event !== -1; event = this.list.next(event)) {
      blocked.push(this.ops[this.eventOp[event]!]!.id);
      if (this.eventIsReturn[event] === 1) break;
    }
    this.best = { prefix: stack.map((frame) => this.ops[frame.op]!.id), blocked: [...new Set(blocked)] };
  }
}

/** `candidateAt`'s answers that are not an op: not a candidate here, and the end of the walk. */
const SKIP = -1;
const NO_MORE = -2;
