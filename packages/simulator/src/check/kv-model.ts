/**
 * The key-value model: `@vsr/kv`'s semantics (operations `KvOperation`, results `KvResult`),
 * stepped with `applyKv` itself so the model cannot drift from the machine. Partitioned per
 * key: every op touches one key, so the history is linearizable iff each key's is.
 *
 * Outputs may be partial: an output fits when every field it records equals the field of the
 * result `applyKv` gives, so `{ ok: false }` is any failed cas (not-found, or a failed
 * precondition with whatever value was seen), `{ ok: false, error: 'precondition-failed' }`
 * a failed precondition without the value, and `{ ok: true }` a delete whether or not the key
 * existed.
 */
import { Map as ImmutableMap } from 'immutable';
import { applyKv, Key, KvOperation, Value, type KvResult, type KvState } from '@vsr/kv';
import type { Model, ModelOperation } from '../model.js';
import { describeEdn, isVector, type EdnValue } from './edn.js';
import { describeJson, HistoryError, isRecord, onlyFields, type HistoryCodec, type JepsenOperation } from './codec.js';

/** A result as a client recorded it: some of a `KvResult`'s fields. */
export type KvOutput = Partial<Record<'ok' | 'value' | 'existed' | 'error' | 'actual', unknown>> & { readonly ok: boolean };

export const kvModel: Model<KvState, KvOperation, KvOutput> = {
  name: 'kv',
  init: () => ImmutableMap<string, Value>(),
  step(state, input, output) {
    const [next, result] = applyKv(state, input);
    return output === undefined || fits(output, result) ? [next] : [];
  },
  partition(history) {
    const byKey = new Map<string, ModelOperation<KvOperation, KvOutput>[]>();
    for (const op of history) {
      const ops = byKey.get(op.input.key);
      if (ops === undefined) byKey.set(op.input.key, [op]);
      else ops.push(op);
    }
    return [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, ops]) => ops);
  },
  stateKey,
  describeOperation: describeKvOperation,
  describeState: (state) => JSON.stringify(Object.fromEntries(state)),
};

/**
 * The entries in key order, as JSON. A part (one key) holds at most one entry, the case kept
 * cheap: `"key":value` (JSON strings delimit themselves, and no other size's key starts with a
 * quote).
 */
function stateKey(state: KvState): string {
  if (state.size === 0) return '[]';
  if (state.size === 1) {
    const key = state.keySeq().first() as string;
    return `${JSON.stringify(key)}:${JSON.stringify(state.get(key))}`;
  }
  return JSON.stringify([...state.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Every field of a `KvResult` is a boolean, a string or a number: equal means `===`. */
function fits(output: KvOutput, result: KvResult): boolean {
  const full = result as Record<string, unknown>;
  for (const field in output) {
    const value = output[field as keyof KvOutput];
    if (value !== undefined && full[field] !== value) return false;
  }
  return true;
}

function describeKvOperation(op: ModelOperation<KvOperation, KvOutput>): string {
  const { input, output } = op;
  const what =
    input.type === 'write'
      ? `write ${input.key}=${describeJson(input.value)}`
      : input.type === 'cas'
        ? `cas ${input.key} ${describeJson(input.expected)}→${describeJson(input.value)}`
        : `${input.type} ${input.key}`;
  if (op.returnMs === null) return `#${op.id} ${what} (indeterminate)`;
  if (output === undefined) return `#${op.id} ${what} returned (unknown)`;
  const fields = Object.entries(output).filter(([field]) => field !== 'ok');
  const detail = fields.map(([field, value]) => `${field} ${describeJson(value)}`).join(', ');
  return `#${op.id} ${what} returned ${output.ok ? 'ok' : 'failed'}${detail !== '' ? ` (${detail})` : ''}`;
}

function decodeInput(json: unknown): KvOperation {
  if (!KvOperation.is(json)) throw new HistoryError(`input: not a key-value operation (read/write/cas/delete with a key of 1..256 characters and string or number values), got ${describeJson(json)}`);
  onlyFields(json, ['type', 'key', 'value', 'expected'], 'input');
  return json;
}

function decodeOutput(_input: KvOperation, json: unknown): KvOutput {
  if (!isRecord(json) || typeof json.ok !== 'boolean') throw new HistoryError(`output: expected an object with a boolean 'ok', got ${describeJson(json)}`);
  onlyFields(json, json.ok ? ['ok', 'value', 'existed'] : ['ok', 'error', 'actual'], 'output');
  if ('value' in json && !Value.is(json.value)) throw new HistoryError(`output.value: not a value, got ${describeJson(json.value)}`);
  if ('actual' in json && !Value.is(json.actual)) throw new HistoryError(`output.actual: not a value, got ${describeJson(json.actual)}`);
  if ('existed' in json && typeof json.existed !== 'boolean') throw new HistoryError(`output.existed: expected a boolean, got ${describeJson(json.existed)}`);
  if ('error' in json && json.error !== 'not-found' && json.error !== 'precondition-failed') {
    throw new HistoryError(`output.error: expected 'not-found' or 'precondition-failed', got ${describeJson(json.error)}`);
  }
  return json as KvOutput;
}

function ednKey(value: EdnValue | undefined): string {
  const key = typeof value === 'number' ? String(value) : value;
  if (!Key.is(key)) throw new HistoryError(`the key of [key value] must be an integer or a string of 1..256 characters, got ${describeEdn(value)}`);
  return key;
}

function ednValue(value: EdnValue | undefined, what: string): Value {
  if (!Value.is(value)) throw new HistoryError(`${what}: a value is an integer or a string, got ${describeEdn(value)}`);
  return value;
}

function tuple(value: EdnValue | undefined, what: string): readonly [EdnValue, EdnValue] {
  if (!isVector(value) || value.length !== 2) throw new HistoryError(`${what}: expected a [key value] tuple, got ${describeEdn(value)}`);
  return [value[0]!, value[1]!];
}

function fromJepsen({ f, invokeValue, okValue }: JepsenOperation): { input: KvOperation; output: KvOutput | undefined } {
  const [rawKey, argument] = tuple(invokeValue, `:value of the :${f}`);
  const key = ednKey(rawKey);
  const ok = okValue !== undefined;
  switch (f) {
    case 'read': {
      if (!ok) return { input: { type: 'read', key }, output: undefined };
      const [, seen] = tuple(okValue, ':value of the :ok read');
      return { input: { type: 'read', key }, output: seen === null ? { ok: false, error: 'not-found' } : { ok: true, value: ednValue(seen, 'the value read') } };
    }
    case 'write':
      return { input: { type: 'write', key, value: ednValue(argument, 'the value written') }, output: ok ? { ok: true } : undefined };
    case 'cas': {
      if (!isVector(argument) || argument.length !== 2) throw new HistoryError(`:value of a cas: expected [key [old new]], got ${describeEdn(invokeValue)}`);
      const [old, value] = argument;
      const expected = old === null ? null : ednValue(old, 'cas old value');
      return { input: { type: 'cas', key, expected, value: ednValue(value, 'cas new value') }, output: ok ? { ok: true } : undefined };
    }
    case 'delete':
      return { input: { type: 'delete', key }, output: ok ? { ok: true } : undefined };
    default:
      throw new HistoryError(`:f: the kv model knows :read, :write, :cas and :delete, got :${f}`);
  }
}

export const kvCodec: HistoryCodec<KvOperation, KvOutput> = { model: kvModel, decodeInput, decodeOutput, fromJepsen };
