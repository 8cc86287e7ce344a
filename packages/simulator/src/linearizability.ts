/**
 * A linearizability checker for key-value histories, in the style of
 * Porcupine: the Wing & Gong search with Lowe's memoisation ("WGL"), run on
 * each key separately. Every KvOperation touches exactly one key, so a history
 * is linearizable iff its restriction to every key is (P-compositionality).
 *
 * Time model
 * - An operation takes effect atomically at one instant in [callMs, returnMs].
 *   Intervals are closed: an op invoked at the very instant another returns is
 *   concurrent with it, and either order is allowed. In the event list, calls
 *   therefore sort before returns at equal times (Porcupine's choice, and the
 *   permissive one: no violation is ever reported that rests on a clock tie).
 * - An indeterminate op (the client never learned the outcome) may take effect
 *   at any instant after callMs, or never. Its returnMs, if recorded (say, when
 *   the client gave up), is ignored: the request may still be in flight inside
 *   the cluster. "Never" is equivalent to "after every other op", where nothing
 *   can observe it, so the search succeeds as soon as every determinate op is
 *   placed and leaves the remaining indeterminate ops out.
 *
 * Model: the key's register, `undefined` (absent) or a value, stepped with
 * `applyKv` itself so the semantics cannot drift from the state machine's. A
 * determinate op fits at a point iff the result `applyKv` gives there deep-
 * equals the result the client saw. Registers only ever hold values written by
 * the key's write and cas ops, so states are numbered: 0 is absent, i > 0 holds
 * the i-th distinct written value, and each (op, state) step is computed once.
 *
 * Search: the determinate ops' events (a call and a return each) sit in a
 * doubly linked list in time order. Walking from the head, every call met
 * before the first return is a candidate to take effect next, and so is every
 * indeterminate op invoked by then (they have no return: no deadline).
 * Placing a candidate steps the model, unlinks its events, and restarts from
 * the head; determinate candidates are tried first. When none fits, the first
 * return's op can no longer be placed in time, so the search backtracks: it
 * undoes the last placement (relinking in reverse order) and tries the next
 * candidate after it. A node reached before cannot lead anywhere new, so the
 * nodes reached are memoised and never re-entered; that is what keeps the
 * search tractable on ordinary histories. See `KeySearch.run` for how the
 * search keeps indeterminate ops from multiplying the work.
 */
import { applyKv, kvMachine, KvOperation } from '@vsr/kv';
import type { KvResult, KvState, Value } from '@vsr/kv';
import { Bitset, EventList, mix32 } from './check/search-structures.js';
import { validateOperationShapes } from './check/history-shape.js';

export interface HistoryOperation {
  /** Unique within the history. */
  id: number;
  clientId: string;
  operation: KvOperation;
  /** Invocation time. */
  callMs: number;
  /** Null when the client never learned the outcome. */
  returnMs: number | null;
  outcome: { type: 'ok'; result: KvResult } | { type: 'indeterminate' };
}

export interface LinearizabilityResult {
  linearizable: boolean;
  /** Keys whose search ran: all of them, or up to and including the one that failed. */
  keysChecked: number;
  /** Operations on those keys. */
  operationsChecked: number;
  /**
   * When not linearizable: the key, and an explanation naming the longest
   * linearizable prefix found and the ops that could not come after it; those
   * ops' ids are `operationIds`. Empty `operationIds` when the budget ran out.
   */
  counterexample?: { key: string; explanation: string; operationIds: number[] };
  /** True if the search gave up because of the budget (then linearizable is false and `exhausted` tells why). */
  exhausted?: boolean;
}

/** Default bound on search steps (a step tries one candidate, or backtracks once), over all keys together. */
export const SEARCH_STEPS_MAX_DEFAULT = 5_000_000;

export function checkLinearizability(
  history: readonly HistoryOperation[],
  options: { searchStepsMax?: number } = {},
): LinearizabilityResult {
  const searchStepsMax = options.searchStepsMax ?? SEARCH_STEPS_MAX_DEFAULT;
  if (!Number.isSafeInteger(searchStepsMax) || searchStepsMax < 0) {
    throw new Error(`checkLinearizability: searchStepsMax must be a non-negative integer, got ${searchStepsMax}`);
  }
  validateHistory(history);

  const byKey = new Map<string, HistoryOperation[]>();
  for (const op of history) {
    const ops = byKey.get(op.operation.key);
    if (ops) ops.push(op);
    else byKey.set(op.operation.key, [op]);
  }
  const partitions = [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  const budget = { stepsMax: searchStepsMax, stepsLeft: searchStepsMax };
  let keysChecked = 0;
  let operationsChecked = 0;
  for (const [key, ops] of partitions) {
    keysChecked++;
    operationsChecked += ops.length;
    const verdict = new KeySearch(key, ops).run(budget);
    if (verdict === null) continue;
    return {
      linearizable: false,
      keysChecked,
      operationsChecked,
      counterexample: { key, ...verdict.counterexample },
      ...(verdict.exhausted ? { exhausted: true } : {}),
    };
  }
  return { linearizable: true, keysChecked, operationsChecked };
}

function validateHistory(history: readonly HistoryOperation[]): void {
  validateOperationShapes(history, 'checkLinearizability', {
    identity: (op, fail) => {
      if (!KvOperation.is(op.operation)) fail('operation is not a valid KvOperation');
    },
    outcome: (op, fail) => {
      const outcome: { type: unknown; result?: unknown } = op.outcome;
      if (outcome.type === 'ok') {
        if (op.returnMs === null) fail("returnMs is null but the outcome is 'ok' (a client that saw a result knows when)");
        const result = outcome.result;
        if (typeof result !== 'object' || result === null || typeof (result as { ok?: unknown }).ok !== 'boolean') {
          fail('outcome.result must be a KvResult object with a boolean `ok`');
        }
      } else if (outcome.type !== 'indeterminate') {
        fail(`outcome.type must be 'ok' or 'indeterminate', got ${String(outcome.type)}`);
      }
    },
  });
}

type Verdict = { counterexample: { explanation: string; operationIds: number[] }; exhausted: boolean } | null;

/** Marks a step to a state where the op's result differs from the one observed. */
const REJECTED = -1;

interface SearchOp {
  readonly source: HistoryOperation;
  /** The observed result; null for an indeterminate op. */
  readonly observed: KvResult | null;
  /** Its index among the determinate ops, or among the indeterminate ones. */
  readonly index: number;
  /** For an indeterminate op, the index of its twin class (rule (d) in `KeySearch.run`). */
  twinClass: number;
  /** Its result and the state after it do not depend on the state before (see `KeySearch.run`). */
  readonly blind: boolean;
  /** Memoised steps: state before → state after, or REJECTED. */
  readonly steps: Map<number, number>;
}

/** Where the candidate walk of a node stands: over determinate call events, or over twin classes. */
const WALKING_EVENTS = 0;
const WALKING_PENDING = 1;

/** The WGL search on one key's operations. */
class KeySearch {
  private readonly register: Register;
  private readonly determinate: readonly SearchOp[];
  /** Sorted by callMs (then id). */
  private readonly indeterminate: readonly SearchOp[];
  /**
   * The indeterminate ops' twin classes (rule (d)), each in call order, ordered
   * by their first op's call. By rule (d) the ops of a class in use are always
   * its first `usedCount[class]`.
   */
  private readonly twinClasses: readonly (readonly SearchOp[])[];
  private readonly usedCount: Int32Array;
  /** The determinate ops' events in time order: op index, time, and whether it is the op's return. */
  private readonly eventOp: Int32Array;
  private readonly eventTimeMs: Float64Array;
  private readonly eventIsReturn: Uint8Array;
  /** Per determinate op, the index of its return event. */
  private readonly returnEventOf: Int32Array;
  /** The twin classes of indeterminate cas ops, by the state they expect. */
  private readonly casExpecting = new Map<number, number[]>();
  // Search state: the events not yet placed, the determinate and indeterminate ops placed,
  // and the memo.
  private readonly list: EventList;
  private readonly placed: Bitset;
  private readonly used: Bitset;
  private readonly visited = new VisitedNodes();

  constructor(
    private readonly key: string,
    history: readonly HistoryOperation[],
  ) {
    // An indeterminate read neither changes the register nor has a result to
    // check: it constrains nothing, so it is left out of the search.
    const kept = history.filter((op) => op.outcome.type === 'ok' || op.operation.type !== 'read');
    this.register = new Register(
      key,
      kept.map((op) => op.operation),
    );
    const toSearchOp = (source: HistoryOperation, index: number): SearchOp => ({
      source,
      observed: source.outcome.type === 'ok' ? source.outcome.result : null,
      index,
      twinClass: -1,
      blind: source.operation.type === 'write' || (source.outcome.type === 'indeterminate' && source.operation.type === 'delete'),
      steps: new Map(),
    });
    this.determinate = kept.filter((op) => op.outcome.type === 'ok').map(toSearchOp);
    this.indeterminate = kept
      .filter((op) => op.outcome.type === 'indeterminate')
      .sort((a, b) => a.callMs - b.callMs || a.id - b.id)
      .map(toSearchOp);
    const observed = this.observedValues();
    const classOfKind = new Map<string, SearchOp[]>();
    for (const op of this.indeterminate) {
      const { operation } = op.source;
      const writes = operation.type === 'write' || operation.type === 'cas';
      const written = writes && observed.has(operation.value) ? operation.value : null;
      const kind = JSON.stringify([operation.type, operation.type === 'cas' ? operation.expected : null, written]);
      const twins = classOfKind.get(kind);
      if (twins === undefined) classOfKind.set(kind, [op]);
      else twins.push(op);
    }
    // Map iteration follows insertion, i.e. each class's first call.
    this.twinClasses = [...classOfKind.values()];
    this.usedCount = new Int32Array(this.twinClasses.length);
    this.twinClasses.forEach((twins, twinClass) => {
      for (const op of twins) op.twinClass = twinClass;
      const { operation } = twins[0]!.source;
      if (operation.type !== 'cas') return;
      // Register state 0 is "absent": what a cas expecting null needs.
      const expected = operation.expected === null ? 0 : this.register.stateOf(operation.expected);
      if (expected === undefined) return; // never written: these cas ops can never take effect
      const classes = this.casExpecting.get(expected);
      if (classes === undefined) this.casExpecting.set(expected, [twinClass]);
      else classes.push(twinClass);
    });

    const events: { timeMs: number; isReturn: boolean; op: number; id: number }[] = [];
    for (const { source, index } of this.determinate) {
      events.push({ timeMs: source.callMs, isReturn: false, op: index, id: source.id });
      events.push({ timeMs: source.returnMs ?? Infinity, isReturn: true, op: index, id: source.id });
    }
    // Time order; calls before returns at equal times (closed intervals); ties by id, so the
    // verdict never depends on the order of the input array.
    events.sort((a, b) => a.timeMs - b.timeMs || Number(a.isReturn) - Number(b.isReturn) || a.id - b.id);
    this.eventOp = Int32Array.from(events, (event) => event.op);
    this.eventTimeMs = Float64Array.from(events, (event) => event.timeMs);
    this.eventIsReturn = Uint8Array.from(events, (event) => (event.isReturn ? 1 : 0));
    this.returnEventOf = new Int32Array(this.determinate.length);
    events.forEach((event, index) => {
      if (event.isReturn) this.returnEventOf[event.op] = index;
    });
    this.list = new EventList(events.length);
    this.placed = new Bitset(this.determinate.length);
    this.used = new Bitset(this.indeterminate.length);
  }

  /**
   * Returns null if the key's history is linearizable.
   *
   * A node of the search is (determinate ops placed, indeterminate ops used,
   * state, flag: whether the last op placed was indeterminate). Indeterminate
   * ops have no deadline, so they stay candidates at every node; two things
   * keep them from multiplying the work.
   *
   * 1. Only linearizations of a canonical form are built:
   *  (a) an indeterminate op is placed only where it changes the state;
   *  (b) a blind op (a write, or an indeterminate delete: its result and the
   *      state after it do not depend on the state before) never follows an
   *      indeterminate op;
   *  (c) an indeterminate op is placed only if the op after it can use the
   *      state it leaves: a determinate candidate, not blind, that accepts it
   *      (and, for a delete, would not accept the state before as well), or
   *      an indeterminate cas candidate that expects it;
   *  (d) of interchangeable indeterminate ops ("twins": the same operation,
   *      up to written values no op observes, see `observedValues`), the
   *      earliest invoked are used first.
   * Any linearization can be brought to this form. For (a)-(c), move the
   * offending indeterminate op to the very end, i.e. "never happened": every
   * later op sees the same state (the op was a no-op, or what follows
   * overwrites or ignores its effect), and real-time order holds, since an
   * indeterminate op may take effect arbitrarily late. (The op that follows
   * an indeterminate op is a candidate already: placing an indeterminate op
   * changes no deadline.) For (d), give the uses of a twin class to its ops
   * in call order: the j-th use comes after j of them were invoked (deadlines
   * only grow along a linearization), so the j-th earliest was invoked by
   * then, and no op can tell the difference. Moves shorten the linearization
   * and reassignments keep its length while using earlier twins, so applying
   * them until none applies terminates.
   *
   * 2. The memo prunes dominated nodes, not just repeated ones: a node N with
   * the same determinate ops and state as a node M reached before, a superset
   * of M's indeterminate ops and a flag no less strict. Candidates depend only
   * on the determinate ops placed (only they have deadlines), and rule (b)
   * only removes moves, so each move from N has a counterpart from M (the same
   * op, or the earliest twin M has not used) leading to a node that again
   * dominates, up to written values no op observes. By induction a completion
   * of N gives one of M: if M led nowhere, neither does N (and if M is still
   * being explored, N's completion is one of M's, found there). Trying
   * determinate candidates first makes the nodes with fewer indeterminate ops
   * the ones reached first.
   */
  // eslint-disable-next-line max-lines-per-function -- one search loop whose state lives in its locals (the hot path of the checker); split, its parts would pass a dozen of them back and forth
  run(budget: { readonly stepsMax: number; stepsLeft: number }): Verdict {
    const determinateCount = this.determinate.length;
    if (determinateCount === 0) return null;

    const { list, placed, used } = this;
    // The stack of placements: the op, and the node it was placed from with its walk position.
    const stackCapacity = determinateCount + this.indeterminate.length;
    const stackOp: SearchOp[] = [];
    const stackState = new Int32Array(stackCapacity);
    const stackFlag = new Uint8Array(stackCapacity);
    const stackWalk = new Uint8Array(stackCapacity);
    const stackPosition = new Int32Array(stackCapacity);
    const stackDeadlineMs = new Float64Array(stackCapacity);
    let depth = 0;
    let state = 0;
    let lastWasIndeterminate = 0;
    // The walk: over call events from `position` (an event), or over twin classes from
    // `position` (an index) for their next op, if invoked by `deadlineMs`, the time of the
    // first return event.
    let walk = WALKING_EVENTS;
    let position = list.first();
    let deadlineMs = 0;
    // The longest prefix found, by determinate ops placed, for the counterexample. Its
    // first `bestShared` ops are still the bottom of the stack, so a new best only copies
    // the placements above them: O(1) amortised per placement.
    const bestPrefix: SearchOp[] = [];
    let bestShared = 0;
    let bestDeterminate = 0;
    let bestState = 0;

    for (;;) {
      if (budget.stepsLeft === 0) return this.exhausted(budget.stepsMax, bestDeterminate);
      budget.stepsLeft--;

      let candidate: SearchOp | undefined;
      if (walk === WALKING_EVENTS) {
        // The walk always meets a return before the list ends: every unplaced determinate
        // op has one, and the search ends once none is left.
        if (this.eventIsReturn[position] === 1) {
          walk = WALKING_PENDING;
          deadlineMs = this.eventTimeMs[position]!;
          position = 0;
          continue;
        }
        candidate = this.determinate[this.eventOp[position]!]!;
      } else {
        const twins = this.twinClasses[position];
        if (twins !== undefined && twins[0]!.source.callMs <= deadlineMs) {
          candidate = this.nextTwin(position, deadlineMs);
        } else {
          // No candidate fits: the first return's op cannot be placed in time. Backtrack.
          if (depth === 0) return this.violation(bestPrefix, bestState);
          depth--;
          bestShared = Math.min(bestShared, depth);
          state = stackState[depth]!;
          lastWasIndeterminate = stackFlag[depth]!;
          walk = stackWalk[depth]!;
          position = stackPosition[depth]!;
          deadlineMs = stackDeadlineMs[depth]!;
          const op = stackOp.pop()!;
          if (op.observed === null) {
            used.remove(op.index);
            this.usedCount[op.twinClass]!--;
          } else {
            placed.remove(op.index);
            list.unlift(position, this.returnEventOf[op.index]!);
          }
        }
      }

      const after = candidate === undefined ? REJECTED : this.place(candidate, state, lastWasIndeterminate, deadlineMs);
      if (candidate !== undefined && after !== REJECTED) {
        stackOp.push(candidate);
        stackState[depth] = state;
        stackFlag[depth] = lastWasIndeterminate;
        stackWalk[depth] = walk;
        stackPosition[depth] = position;
        stackDeadlineMs[depth] = deadlineMs;
        depth++;
        state = after;
        if (candidate.observed === null) lastWasIndeterminate = 1;
        else {
          lastWasIndeterminate = 0;
          list.lift(position, this.returnEventOf[candidate.index]!);
          if (placed.size === determinateCount) return null;
          if (placed.size > bestDeterminate) {
            bestDeterminate = placed.size;
            bestPrefix.length = bestShared;
            for (; bestShared < depth; bestShared++) bestPrefix.push(stackOp[bestShared]!);
            bestState = state;
          }
        }
        walk = WALKING_EVENTS;
        position = list.first();
        continue;
      }
      position = walk === WALKING_EVENTS ? list.next(position) : position + 1;
    }
  }

  /**
   * Places `op` at the current node (state, flag, and `deadlineMs` for
   * indeterminate candidates) if its result fits, the canonical-form rules
   * allow it, and the node it leads to is not dominated by one reached before:
   * adds it to `placed` or `used`, records the new node, and returns the state
   * after it. Otherwise returns REJECTED.
   */
  private place(op: SearchOp, state: number, lastWasIndeterminate: number, deadlineMs: number): number {
    const after = this.step(op, state);
    if (after === REJECTED || (op.blind && lastWasIndeterminate === 1)) return REJECTED;
    const indeterminate = op.observed === null;
    if (indeterminate && (after === state || !this.canUse(state, after, deadlineMs))) return REJECTED;
    const set = indeterminate ? this.used : this.placed;
    set.add(op.index);
    if (this.visited.add(this.placed, after, this.used, indeterminate ? 1 : 0)) {
      if (indeterminate) this.usedCount[op.twinClass]!++;
      return after;
    }
    set.remove(op.index);
    return REJECTED;
  }

  /**
   * The values ops can tell apart from other values: those in determinate
   * results (a read's value, a failed cas's actual) and those any cas
   * expects. Of any other value an op can only tell that the key exists.
   */
  private observedValues(): Set<Value> {
    const observed = new Set<Value>();
    for (const { source, observed: result } of [...this.determinate, ...this.indeterminate]) {
      if (source.operation.type === 'cas' && source.operation.expected !== null) observed.add(source.operation.expected);
      if (result === null) continue;
      const fields = result as { readonly value?: Value; readonly actual?: Value };
      if (fields.value !== undefined) observed.add(fields.value);
      if (fields.actual !== undefined) observed.add(fields.actual);
    }
    return observed;
  }

  /** A twin class's candidate at a node with that deadline: its first op not in use, if invoked by then. */
  private nextTwin(twinClass: number, deadlineMs: number): SearchOp | undefined {
    const op = this.twinClasses[twinClass]![this.usedCount[twinClass]!];
    return op !== undefined && op.source.callMs <= deadlineMs ? op : undefined;
  }

  /** Rule (c): whether a candidate of the current node could follow an indeterminate op taking `before` to `after`. */
  private canUse(before: number, after: number, deadlineMs: number): boolean {
    for (let event = this.list.first(); this.eventIsReturn[event] === 0; event = this.list.next(event)) {
      const op = this.determinate[this.eventOp[event]!]!;
      if (op.blind || this.step(op, after) === REJECTED) continue;
      if (op.source.operation.type !== 'delete' || this.step(op, before) === REJECTED) return true;
    }
    return this.casExpecting.get(after)?.some((twinClass) => this.nextTwin(twinClass, deadlineMs) !== undefined) === true;
  }

  private step(op: SearchOp, state: number): number {
    let after = op.steps.get(state);
    if (after === undefined) {
      const [next, result] = this.register.apply(op.source.operation, state);
      after = op.observed === null || sameResult(result, op.observed) ? next : REJECTED;
      op.steps.set(state, after);
    }
    return after;
  }

  /**
   * Explains a failed search from its longest prefix. Every determinate op
   * that could come next there is rejected by the model (had one fit, the
   * search would have found a longer prefix), so each is listed with the
   * result it would have had instead.
   */
  private violation(prefix: readonly SearchOp[], state: number): Verdict {
    const inPrefix = new Set(prefix);
    const determinate: SearchOp[] = [];
    let blocking: HistoryOperation | undefined;
    for (let event = 0; blocking === undefined; event++) {
      const op = this.determinate[this.eventOp[event]!]!;
      if (inPrefix.has(op)) continue;
      if (this.eventIsReturn[event] === 1) blocking = op.source;
      else determinate.push(op);
    }
    const deadlineMs = blocking.returnMs ?? Infinity;
    const pending = this.indeterminate.filter((op) => !inPrefix.has(op) && op.source.callMs <= deadlineMs);

    const shown = 10;
    const prefixText =
      prefix.length === 0
        ? 'none: no op can take effect first'
        : (prefix.length > shown ? `… (${prefix.length - shown} earlier), ` : '') +
          prefix
            .slice(-shown)
            .map((op) => describeOp(op.source))
            .join(', ');
    const held = this.register.valueOf(state);
    const misfits = determinate.map(({ source }) => {
      const [, wouldBe] = this.register.apply(source.operation, state);
      return `${describeOp(source)} but would have returned ${describeResult(wouldBe)}`;
    });
    const pendingText = pending.map((op) => `#${op.source.id}`).join(', ');
    const explanation =
      `key ${JSON.stringify(this.key)} is not linearizable. ` +
      `Longest linearizable prefix (${prefix.length} ops): ${prefixText}; ` +
      `the key is then ${held === undefined ? 'absent' : `set to ${formatValue(held)}`}. ` +
      `Op #${blocking.id} returned at ${deadlineMs}ms, so it or an op invoked by then must come next, ` +
      `but none fits: ${misfits.join('; ')}` +
      (pending.length > 0 ? `; pending indeterminate ops (${pendingText}) do not help.` : '.');
    return { counterexample: { explanation, operationIds: determinate.map((op) => op.source.id) }, exhausted: false };
  }

  private exhausted(stepsMax: number, bestDeterminate: number): Verdict {
    const explanation =
      `search budget of ${stepsMax} steps exhausted on key ${JSON.stringify(this.key)} ` +
      `(${this.determinate.length + this.indeterminate.length} ops searched); the longest linearizable prefix ` +
      `found places ${bestDeterminate} of ${this.determinate.length} determinate ops. ` +
      'Inconclusive: the history may or may not be linearizable.';
    return { counterexample: { explanation, operationIds: [] }, exhausted: true };
  }
}

/**
 * The register of one key, stepped with `applyKv`. State 0 is "absent"; state
 * i > 0 holds the i-th distinct value written by the key's ops (distinct as
 * `Map` keys, i.e. SameValueZero, which for strings and finite numbers agrees
 * with the `===` that `applyKv` compares with).
 */
class Register {
  private static readonly empty: KvState = kvMachine.init();
  private readonly values: Value[] = [];
  private readonly stateOfValue = new Map<Value, number>();
  private readonly kvStates: KvState[] = [Register.empty];

  constructor(
    private readonly key: string,
    operations: readonly KvOperation[],
  ) {
    for (const operation of operations) {
      if ((operation.type === 'write' || operation.type === 'cas') && !this.stateOfValue.has(operation.value)) {
        this.values.push(operation.value);
        this.stateOfValue.set(operation.value, this.values.length);
      }
    }
  }

  valueOf(state: number): Value | undefined {
    return state === 0 ? undefined : this.values[state - 1];
  }

  /** The state holding `value`, if any op writes it. */
  stateOf(value: Value): number | undefined {
    return this.stateOfValue.get(value);
  }

  apply(operation: KvOperation, state: number): [number, KvResult] {
    let before = this.kvStates[state];
    if (before === undefined) {
      before = Register.empty.set(this.key, this.values[state - 1]!);
      this.kvStates[state] = before;
    }
    const [after, result] = applyKv(before, operation);
    const value = after.get(this.key);
    // applyKv only ever stores an operation's `value`, all of which are numbered.
    return [value === undefined ? 0 : this.stateOfValue.get(value)!, result];
  }
}

/** Deep equality of two results: the same fields with `===` values. */
function sameResult(a: KvResult, b: KvResult): boolean {
  const fieldsA = Object.keys(a);
  if (fieldsA.length !== Object.keys(b).length) return false;
  const recordA = a as unknown as Record<string, unknown>;
  const recordB = b as unknown as Record<string, unknown>;
  return fieldsA.every((field) => Object.hasOwn(recordB, field) && recordA[field] === recordB[field]);
}

/** The memo of nodes reached (see `KeySearch.run`). */
class VisitedNodes {
  /** By hash of (determinate set, state): records [state, flag, ...determinate words, ...indeterminate words]. */
  private readonly buckets = new Map<number, Uint32Array[]>();

  /**
   * Records the node (placed, state, used, flag) unless a node recorded before
   * dominates it: the same placed set and state, a subset of its used set, and
   * a flag no stricter. Returns whether it was recorded.
   */
  add(placed: Bitset, state: number, used: Bitset, flag: number): boolean {
    const hash = placed.hash ^ mix32(2 * state + 2);
    const usedAt = 2 + placed.words.length;
    const bucket = this.buckets.get(hash);
    const dominated = bucket?.some(
      (record) =>
        record[0] === state &&
        record[1]! <= flag &&
        sameWords(record, 2, placed.words) &&
        subsetWords(record, usedAt, used.words),
    );
    if (dominated === true) return false;
    const record = new Uint32Array(usedAt + used.words.length);
    record[0] = state;
    record[1] = flag;
    record.set(placed.words, 2);
    record.set(used.words, usedAt);
    if (bucket === undefined) this.buckets.set(hash, [record]);
    else bucket.push(record);
    return true;
  }
}

/** Whether record[offset…] holds exactly `words`. */
function sameWords(record: Uint32Array, offset: number, words: Uint32Array): boolean {
  for (let i = 0; i < words.length; i++) if (record[offset + i] !== words[i]) return false;
  return true;
}

/** Whether the set in record[offset…] is a subset of `words`. */
function subsetWords(record: Uint32Array, offset: number, words: Uint32Array): boolean {
  for (let i = 0; i < words.length; i++) if ((record[offset + i]! & ~words[i]!) !== 0) return false;
  return true;
}
function formatValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

function describeResult(result: KvResult): string {
  if (result.ok) {
    if ('value' in result) return formatValue(result.value);
    if ('existed' in result) return result.existed ? 'existed' : 'did not exist';
    return 'ok';
  }
  return result.error === 'precondition-failed' ? `precondition-failed (actual ${formatValue(result.actual)})` : result.error;
}

/** E.g. `#3 cas "a"→"b" returned precondition-failed (actual "c")`, or `#4 write "d" (indeterminate)`. */
function describeOp(op: HistoryOperation): string {
  const { operation } = op;
  const what =
    operation.type === 'write'
      ? `write ${formatValue(operation.value)}`
      : operation.type === 'cas'
        ? `cas ${formatValue(operation.expected)}→${formatValue(operation.value)}`
        : operation.type;
  return `#${op.id} ${what} ${op.outcome.type === 'ok' ? `returned ${describeResult(op.outcome.result)}` : '(indeterminate)'}`;
}
