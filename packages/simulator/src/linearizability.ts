/**
 * The key-value checker's own API, kept for its users (the `vsr-kv` cluster tests, `chaos:kv`,
 * and anyone who recorded `HistoryOperation`s): `checkLinearizability` runs the model-generic
 * search (`check/search.ts`) with `kvModel`, which steps `applyKv` itself so the semantics cannot
 * drift from the state machine's, partitioned per key (P-compositionality), and explains a
 * violation in the key-value terms of the failing key: the longest linearizable prefix found,
 * what the key then holds, and what each op that was due would have returned instead.
 *
 * Time model (the search's): an operation takes effect atomically at one instant in
 * [callMs, returnMs], intervals closed (no violation rests on a clock tie); an indeterminate op
 * may take effect at any instant after callMs, or never, and its recorded returnMs (when the
 * client gave up) is ignored, since the request may still be in flight inside the cluster.
 */
import { applyKv, kvMachine, KvOperation } from '@vsr/kv';
import type { KvResult, KvState, Value } from '@vsr/kv';
import { validateOperationShapes } from './check/history-shape.js';
import { searchHistory } from './check/search.js';
import { kvModel, type KvOutput } from './check/kv-model.js';
import type { Model } from './model.js';
import { fromSimulatorHistory } from './check/from-simulator.js';

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

/**
 * `kvModel` with whole results: a `HistoryOperation` records the full `KvResult`, so a result
 * fits only when it has exactly the fields and values `applyKv` gives (a read that returned
 * `{ ok: true }` without its value does not fit, as it would under partial outputs).
 */
const exactKvModel: Model<KvState, KvOperation, KvOutput> = {
  ...kvModel,
  name: 'kv (whole results)',
  step(state, input, output) {
    const [next, result] = applyKv(state, input);
    return output === undefined || sameResult(result, output as KvResult) ? [next] : [];
  },
};

/** Deep equality of two results: the same fields with `===` values (a `KvResult`'s fields are all primitives). */
function sameResult(a: KvResult, b: KvResult): boolean {
  const recordA = a as unknown as Record<string, unknown>;
  const recordB = b as unknown as Record<string, unknown>;
  let fields = 0;
  for (const field in recordA) {
    if (recordA[field] !== recordB[field] || !Object.hasOwn(recordB, field)) return false;
    fields++;
  }
  for (const field in recordB) if (--fields < 0 || !Object.hasOwn(recordB, field)) return false;
  return fields === 0;
}

/** Default bound on search steps (one candidate tried, or one backtrack), over all keys together. */
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
  // kvModel's partition: one part per key, in key order.
  const keys = [...new Set(history.map((op) => op.operation.key))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const opsOf = new Map<string, HistoryOperation[]>(keys.map((key) => [key, []]));
  for (const op of history) opsOf.get(op.operation.key)?.push(op);
  // validateHistory checked every shape the search relies on, in key-value terms.
  const result = searchHistory(exactKvModel, fromSimulatorHistory(history), { stepsMax: searchStepsMax, timeoutMs: undefined, nowMs: undefined });
  const keysChecked = result.partsChecked;
  const operationsChecked = keys.slice(0, keysChecked).reduce((count, key) => count + (opsOf.get(key)?.length ?? 0), 0);
  if (result.verdict === 'linearizable') return { linearizable: true, keysChecked, operationsChecked };
  const key = keys[keysChecked - 1] ?? '';
  const ops = opsOf.get(key) ?? [];
  if (result.verdict === 'unknown') {
    const explanation =
      `search budget of ${searchStepsMax} steps exhausted on key ${JSON.stringify(key)} (${ops.length} ops searched). ` +
      'Inconclusive: the history may or may not be linearizable.';
    return { linearizable: false, keysChecked, operationsChecked, counterexample: { key, explanation, operationIds: [] }, exhausted: true };
  }
  const counterexample = explainViolation(key, ops, result.prefixIds, result.blockedIds);
  return { linearizable: false, keysChecked, operationsChecked, counterexample: { key, ...counterexample } };
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

/**
 * Explains a failed search from its longest prefix. Every determinate op that could come next
 * there is refused by the model (had one fit, the search would have found a longer prefix), so
 * each is listed with the result it would have had instead.
 */
function explainViolation(
  key: string,
  ops: readonly HistoryOperation[],
  prefixIds: readonly number[],
  blockedIds: readonly number[],
): { explanation: string; operationIds: number[] } {
  const byId = new Map(ops.map((op) => [op.id, op]));
  const prefix = prefixIds.map((id) => byId.get(id)).filter((op) => op !== undefined);
  let state: KvState = kvMachine.init();
  for (const op of prefix) [state] = applyKv(state, op.operation);
  const inPrefix = new Set(prefixIds);
  const blocked = blockedIds.map((id) => byId.get(id)).filter((op) => op !== undefined);
  const blocking = firstReturned(ops.filter((op) => op.outcome.type === 'ok' && !inPrefix.has(op.id)));
  const deadlineMs = blocking?.returnMs ?? Infinity;
  const pending = ops
    .filter((op) => op.outcome.type === 'indeterminate' && !inPrefix.has(op.id) && op.callMs <= deadlineMs)
    .sort((a, b) => a.callMs - b.callMs || a.id - b.id);
  const shown = 10;
  const prefixText =
    prefix.length === 0
      ? 'none: no op can take effect first'
      : (prefix.length > shown ? `… (${prefix.length - shown} earlier), ` : '') + prefix.slice(-shown).map(describeOp).join(', ');
  const held: Value | undefined = state.get(key);
  const misfits = blocked.map((op) => `${describeOp(op)} but would have returned ${describeResult(applyKv(state, op.operation)[1])}`);
  const pendingText = pending.map((op) => `#${op.id}`).join(', ');
  const explanation =
    `key ${JSON.stringify(key)} is not linearizable. ` +
    `Longest linearizable prefix (${prefix.length} ops): ${prefixText}; ` +
    `the key is then ${held === undefined ? 'absent' : `set to ${formatValue(held)}`}. ` +
    `Op #${blocking?.id ?? '?'} returned at ${deadlineMs}ms, so it or an op invoked by then must come next, ` +
    `but none fits: ${misfits.join('; ')}` +
    (pending.length > 0 ? `; pending indeterminate ops (${pendingText}) do not help.` : '.');
  return { explanation, operationIds: blocked.map((op) => op.id) };
}

/** The op whose return is the deadline: of these determinate ops, the one that returned first (ties: the lower id, as the search orders them). */
function firstReturned(ops: readonly HistoryOperation[]): HistoryOperation | undefined {
  let first: HistoryOperation | undefined;
  for (const op of ops) {
    const returnMs = op.returnMs ?? Infinity;
    const firstMs = first?.returnMs ?? Infinity;
    if (first === undefined || returnMs < firstMs || (returnMs === firstMs && op.id < first.id)) first = op;
  }
  return first;
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
