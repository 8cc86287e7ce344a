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
 * Search: the events (a call per op; a return per determinate op) sit in a
 * doubly linked list in time order. Walking from the head, every call met
 * before the first return is a candidate to take effect next: placing one
 * steps the model, unlinks its call and return, and restarts the walk. Meeting
 * a return means its op had to be placed already, so the search backtracks:
 * it undoes the last placement (relinking in reverse order) and tries the next
 * candidate after it. A (set of placed ops, model state) pair that was reached
 * before cannot lead anywhere new, so each is recorded once in a visited set
 * and never re-entered; that memoisation is what keeps the search polynomial
 * on ordinary histories.
 */
import { applyKv, kvMachine, KvOperation } from '@vsr/kv';
import type { KvResult, KvState, Value } from '@vsr/kv';

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

/** Default bound on search steps (one step: one event visited), over all keys together. */
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
  const fail = (where: string, message: string): never => {
    throw new Error(`checkLinearizability: ${where}: ${message}`);
  };
  const indexOfId = new Map<number, number>();
  history.forEach((op, index) => {
    if (!Number.isSafeInteger(op.id)) fail(`history[${index}]`, `id must be a safe integer, got ${String(op.id)}`);
    const where = `operation id ${op.id} (history[${index}])`;
    const earlier = indexOfId.get(op.id);
    if (earlier !== undefined) fail(where, `duplicate id, also at history[${earlier}]`);
    indexOfId.set(op.id, index);
    if (typeof op.clientId !== 'string') fail(where, 'clientId must be a string');
    if (!KvOperation.is(op.operation)) fail(where, 'operation is not a valid KvOperation');
    if (!Number.isFinite(op.callMs)) fail(where, `callMs must be a finite number, got ${String(op.callMs)}`);
    if (op.returnMs !== null) {
      if (!Number.isFinite(op.returnMs)) fail(where, `returnMs must be a finite number or null, got ${String(op.returnMs)}`);
      if (op.returnMs < op.callMs) fail(where, `returnMs (${op.returnMs}) is before callMs (${op.callMs})`);
    }
    const outcome: { type: unknown; result?: unknown } = op.outcome;
    if (outcome.type === 'ok') {
      if (op.returnMs === null) fail(where, "returnMs is null but the outcome is 'ok' (a client that saw a result knows when)");
      const result = outcome.result;
      if (typeof result !== 'object' || result === null || typeof (result as { ok?: unknown }).ok !== 'boolean') {
        fail(where, 'outcome.result must be a KvResult object with a boolean `ok`');
      }
    } else if (outcome.type !== 'indeterminate') {
      fail(where, `outcome.type must be 'ok' or 'indeterminate', got ${String(outcome.type)}`);
    }
  });
}

type Verdict = { counterexample: { explanation: string; operationIds: number[] }; exhausted: boolean } | null;

/** Marks a step to a state where the op's result differs from the one observed. */
const REJECTED = -1;

interface SearchOp {
  readonly source: HistoryOperation;
  /** The observed result; null for an indeterminate op. */
  readonly observed: KvResult | null;
  /** Its result and the state after it do not depend on the state before (see `KeySearch.run`). */
  readonly blind: boolean;
  /** Memoised steps: state before → state after, or REJECTED. */
  readonly steps: Map<number, number>;
}

/** The WGL search on one key's operations. */
class KeySearch {
  private readonly register: Register;
  private readonly ops: readonly SearchOp[];
  private readonly determinateCount: number;
  /** Events in time order: op index, and whether it is the op's return. */
  private readonly eventOp: Int32Array;
  private readonly eventIsReturn: Uint8Array;
  /** Per op, the index of its return event, or -1 for indeterminate ops (which have none). */
  private readonly returnEventOf: Int32Array;

  constructor(
    private readonly key: string,
    history: readonly HistoryOperation[],
  ) {
    // An indeterminate read neither changes the register nor has a result to
    // check: it constrains nothing, so it is left out of the search.
    const kept = history.filter((op) => op.outcome.type === 'ok' || op.operation.type !== 'read');
    this.ops = kept.map((source) => ({
      source,
      observed: source.outcome.type === 'ok' ? source.outcome.result : null,
      blind: source.operation.type === 'write' || (source.outcome.type === 'indeterminate' && source.operation.type === 'delete'),
      steps: new Map(),
    }));
    this.determinateCount = this.ops.filter((op) => op.observed !== null).length;
    this.register = new Register(
      key,
      kept.map((op) => op.operation),
    );

    const events: { timeMs: number; isReturn: boolean; op: number; id: number }[] = [];
    kept.forEach((op, index) => {
      events.push({ timeMs: op.callMs, isReturn: false, op: index, id: op.id });
      if (op.outcome.type === 'ok' && op.returnMs !== null) events.push({ timeMs: op.returnMs, isReturn: true, op: index, id: op.id });
    });
    // Time order; calls before returns at equal times (closed intervals); ties by id, so the
    // verdict never depends on the order of the input array.
    events.sort((a, b) => a.timeMs - b.timeMs || Number(a.isReturn) - Number(b.isReturn) || a.id - b.id);
    this.eventOp = Int32Array.from(events, (event) => event.op);
    this.eventIsReturn = Uint8Array.from(events, (event) => (event.isReturn ? 1 : 0));
    this.returnEventOf = new Int32Array(kept.length).fill(-1);
    events.forEach((event, index) => {
      if (event.isReturn) this.returnEventOf[event.op] = index;
    });
  }

  /**
   * Returns null if the key's history is linearizable.
   *
   * Besides the memoisation, the search only builds linearizations in a
   * canonical form, which keeps indeterminate ops from multiplying the work:
   *  (a) an indeterminate op is placed only where it changes the register;
   *  (b) a blind op (a write, or an indeterminate delete) is never placed
   *      right after an indeterminate op.
   * This loses nothing. Take any linearization, and move to its very end
   * (i.e. "never happened") each indeterminate op that breaks (a) or is
   * followed by a blind op: the state every later op sees is unchanged (the op
   * was a no-op, or the blind op overwrites what it did), and real-time order
   * still holds because an indeterminate op may take effect arbitrarily late.
   * Each move shrinks the part of the linearization before its last
   * determinate op, so the moves end in the canonical form. Rule (b) makes the
   * moves available depend on whether the last op placed was indeterminate,
   * so that flag is part of the memoised state.
   */
  run(budget: { readonly stepsMax: number; stepsLeft: number }): Verdict {
    const opCount = this.ops.length;
    if (this.determinateCount === 0) return null;

    const eventCount = this.eventOp.length;
    const list = new EventList(eventCount);
    const placed = new PlacedSet(opCount);
    const visited = new VisitedSet();
    // The stack of placements: the call event placed, and the state and flag before it.
    const stackEvent = new Int32Array(opCount);
    const stackState = new Int32Array(opCount);
    const stackFlag = new Uint8Array(opCount);
    let depth = 0;
    let state = 0;
    let lastWasIndeterminate = 0;
    let determinatePlaced = 0;
    // The longest prefix found, by determinate ops placed, for the counterexample.
    let bestDeterminate = 0;
    let bestPrefix: number[] = [];
    let bestState = 0;

    let event = list.first();
    for (;;) {
      if (budget.stepsLeft === 0) return this.exhausted(budget.stepsMax, bestDeterminate);
      budget.stepsLeft--;

      if (this.eventIsReturn[event] === 0) {
        const opIndex = this.eventOp[event]!;
        const op = this.ops[opIndex]!;
        const indeterminate = op.observed === null;
        const after = this.step(op, state);
        const allowed =
          after !== REJECTED && !(indeterminate && after === state) && !(op.blind && lastWasIndeterminate === 1);
        if (allowed) {
          placed.add(opIndex);
          if (visited.add(placed, after * 2 + (indeterminate ? 1 : 0))) {
            stackEvent[depth] = event;
            stackState[depth] = state;
            stackFlag[depth] = lastWasIndeterminate;
            depth++;
            state = after;
            lastWasIndeterminate = indeterminate ? 1 : 0;
            list.lift(event, this.returnEventOf[opIndex]!);
            if (!indeterminate) {
              determinatePlaced++;
              if (determinatePlaced === this.determinateCount) return null;
              if (determinatePlaced > bestDeterminate) {
                bestDeterminate = determinatePlaced;
                bestPrefix = Array.from(stackEvent.subarray(0, depth), (placedEvent) => this.eventOp[placedEvent]!);
                bestState = state;
              }
            }
            event = list.first();
            continue;
          }
          placed.remove(opIndex);
        }
        event = list.next(event);
        continue;
      }

      // A return event (the walk always meets one before the list ends: every
      // unplaced determinate op has one, and the search ends once none is left). Its op
      // should have been placed by now, so undo the last placement and try the
      // candidate after it.
      if (depth === 0) return this.violation(bestPrefix, bestState);
      depth--;
      event = stackEvent[depth]!;
      state = stackState[depth]!;
      lastWasIndeterminate = stackFlag[depth]!;
      const opIndex = this.eventOp[event]!;
      placed.remove(opIndex);
      if (this.ops[opIndex]!.observed !== null) determinatePlaced--;
      list.unlift(event, this.returnEventOf[opIndex]!);
      event = list.next(event);
    }
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
  private violation(prefix: readonly number[], state: number): Verdict {
    const inPrefix = new Set(prefix);
    const candidates: number[] = [];
    let blocking = -1;
    for (let event = 0; event < this.eventOp.length && blocking === -1; event++) {
      const opIndex = this.eventOp[event]!;
      if (inPrefix.has(opIndex)) continue;
      if (this.eventIsReturn[event] === 1) blocking = opIndex;
      else candidates.push(opIndex);
    }
    const determinate = candidates.filter((opIndex) => this.ops[opIndex]!.observed !== null);
    const pending = candidates.filter((opIndex) => this.ops[opIndex]!.observed === null);
    const blockingOp = this.ops[blocking]!.source;

    const shown = 10;
    const prefixText =
      prefix.length === 0
        ? 'none: no op can take effect first'
        : (prefix.length > shown ? `… (${prefix.length - shown} earlier), ` : '') +
          prefix
            .slice(-shown)
            .map((opIndex) => describeOp(this.ops[opIndex]!.source))
            .join(', ');
    const held = this.register.valueOf(state);
    const misfits = determinate.map((opIndex) => {
      const { source } = this.ops[opIndex]!;
      const [, wouldBe] = this.register.apply(source.operation, state);
      return `${describeOp(source)} but would have returned ${describeResult(wouldBe)}`;
    });
    const explanation =
      `key ${JSON.stringify(this.key)} is not linearizable. ` +
      `Longest linearizable prefix (${prefix.length} ops): ${prefixText}; ` +
      `the key is then ${held === undefined ? 'absent' : `set to ${formatValue(held)}`}. ` +
      `Op #${blockingOp.id} returned at ${blockingOp.returnMs}ms, so it or an op invoked by then must come next, ` +
      `but none fits: ${misfits.join('; ')}` +
      (pending.length > 0
        ? `; pending indeterminate ops (${pending.map((opIndex) => `#${this.ops[opIndex]!.source.id}`).join(', ')}) do not help.`
        : '.');
    return {
      counterexample: { explanation, operationIds: determinate.map((opIndex) => this.ops[opIndex]!.source.id) },
      exhausted: false,
    };
  }

  private exhausted(stepsMax: number, bestDeterminate: number): Verdict {
    const explanation =
      `search budget of ${stepsMax} steps exhausted on key ${JSON.stringify(this.key)} (${this.ops.length} ops searched); ` +
      `the longest linearizable prefix found places ${bestDeterminate} of ${this.determinateCount} determinate ops. ` +
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

/**
 * The events as a doubly linked list over their indices, with a head sentinel;
 * -1 ends it. Unlinked events keep their own links ("dancing links"), so
 * undoing removals in reverse order restores the list exactly.
 */
class EventList {
  private readonly head: number;
  private readonly nextOf: Int32Array;
  private readonly prevOf: Int32Array;

  constructor(eventCount: number) {
    this.head = eventCount;
    this.nextOf = new Int32Array(eventCount + 1);
    this.prevOf = new Int32Array(eventCount + 1);
    for (let event = 0; event < eventCount; event++) {
      this.nextOf[event] = event + 1 < eventCount ? event + 1 : -1;
      this.prevOf[event] = event === 0 ? this.head : event - 1;
    }
    this.nextOf[this.head] = eventCount > 0 ? 0 : -1;
  }

  first(): number {
    return this.nextOf[this.head]!;
  }

  next(event: number): number {
    return this.nextOf[event]!;
  }

  /** Removes a call event and its return event (if not -1). */
  lift(call: number, ret: number): void {
    this.unlink(call);
    if (ret !== -1) this.unlink(ret);
  }

  /** Undoes `lift(call, ret)`; must undo the most recent lift still in force. */
  unlift(call: number, ret: number): void {
    if (ret !== -1) this.relink(ret);
    this.relink(call);
  }

  private unlink(event: number): void {
    const prev = this.prevOf[event]!;
    const next = this.nextOf[event]!;
    this.nextOf[prev] = next;
    if (next !== -1) this.prevOf[next] = prev;
  }

  private relink(event: number): void {
    const prev = this.prevOf[event]!;
    const next = this.nextOf[event]!;
    this.nextOf[prev] = event;
    if (next !== -1) this.prevOf[next] = event;
  }
}

/** murmur3's 32-bit finaliser: a cheap bijective mix. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}

/**
 * The set of placed ops as a bitset, with a Zobrist hash (the XOR of a fixed
 * pseudo-random word per member) kept up to date in O(1) per change.
 */
class PlacedSet {
  readonly words: Uint32Array;
  hash = 0;

  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }

  add(member: number): void {
    this.words[member >>> 5]! |= 1 << (member & 31);
    this.hash ^= mix32(2 * member + 1);
  }

  remove(member: number): void {
    this.words[member >>> 5]! &= ~(1 << (member & 31));
    this.hash ^= mix32(2 * member + 1);
  }
}

/** The memo: (placed set, state code) pairs reached so far. */
class VisitedSet {
  /** By hash: records of [state code, ...set words]. */
  private readonly buckets = new Map<number, Uint32Array[]>();

  /** Records the pair; false if it was already there. */
  add(placed: PlacedSet, code: number): boolean {
    const hash = placed.hash ^ mix32(2 * code + 2);
    const bucket = this.buckets.get(hash);
    if (bucket !== undefined && bucket.some((record) => record[0] === code && sameWords(record, placed.words))) return false;
    const record = new Uint32Array(placed.words.length + 1);
    record[0] = code;
    record.set(placed.words, 1);
    if (bucket === undefined) this.buckets.set(hash, [record]);
    else bucket.push(record);
    return true;
  }
}

function sameWords(record: Uint32Array, words: Uint32Array): boolean {
  for (let i = 0; i < words.length; i++) if (record[i + 1] !== words[i]) return false;
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
