/**
 * The register model: one register holding a value (an integer or a string), `null` until
 * first written (as Jepsen's registers start at nil), with read, write and compare-and-set.
 *
 * Outputs may be partial: a read's output without `value` says nothing about what it read,
 * and a failed cas may record only `{ ok: false }`, without the value it saw (as test tools
 * record it): it fits any state other than the one it expected. A write cannot fail: drop
 * failed operations from the history (they did not happen).
 */
import type { Model, ModelOperation } from '../model.js';
import type { EdnValue } from './edn.js';
import { describeEdn, isVector } from './edn.js';
import { describeJson, HistoryError, isRecord, onlyFields, type HistoryCodec, type JepsenOperation } from './codec.js';

export type RegisterValue = number | string | null;

export type RegisterInput =
  | { readonly type: 'read' }
  | { readonly type: 'write'; readonly value: RegisterValue }
  | { readonly type: 'cas'; readonly expected: RegisterValue; readonly value: RegisterValue };

export type RegisterOutput = { readonly ok: true; readonly value?: RegisterValue } | { readonly ok: false; readonly actual?: RegisterValue };

export const registerModel: Model<RegisterValue, RegisterInput, RegisterOutput> = {
  name: 'register',
  init: () => null,
  step(state, input, output) {
    switch (input.type) {
      case 'read':
        if (output === undefined || (output.ok && (output.value === undefined || output.value === state))) return [state];
        return [];
      case 'write':
        return output === undefined || output.ok ? [input.value] : [];
      case 'cas': {
        const matches = state === input.expected;
        if (output === undefined) return [matches ? input.value : state];
        if (output.ok) return matches ? [input.value] : [];
        return !matches && (output.actual === undefined || output.actual === state) ? [state] : [];
      }
    }
  },
  stateKey: (state) => JSON.stringify(state),
  describeOperation: describeRegisterOperation,
  describeState: (state) => JSON.stringify(state),
};

function describeRegisterOperation(op: ModelOperation<RegisterInput, RegisterOutput>): string {
  const { input, output } = op;
  const what =
    input.type === 'read'
      ? 'read'
      : input.type === 'write'
        ? `write ${describeJson(input.value)}`
        : `cas ${describeJson(input.expected)}→${describeJson(input.value)}`;
  if (op.returnMs === null) return `#${op.id} ${what} (indeterminate)`;
  if (output === undefined) return `#${op.id} ${what} returned (unknown)`;
  if (output.ok) return `#${op.id} ${what} returned ${output.value !== undefined ? describeJson(output.value) : 'ok'}`;
  return `#${op.id} ${what} failed${output.actual !== undefined ? ` (saw ${describeJson(output.actual)})` : ''}`;
}

function registerValue(value: unknown, what: string): RegisterValue {
  if (value === null || typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value))) return value;
  throw new HistoryError(`${what}: a register value is an integer, a string or null, got ${describeJson(value)}`);
}

function decodeInput(json: unknown): RegisterInput {
  if (!isRecord(json)) throw new HistoryError(`input: expected an object, got ${describeJson(json)}`);
  switch (json.type) {
    case 'read':
      onlyFields(json, ['type'], 'input');
      return { type: 'read' };
    case 'write':
      onlyFields(json, ['type', 'value'], 'input');
      return { type: 'write', value: registerValue(json.value, 'input.value') };
    case 'cas':
      onlyFields(json, ['type', 'expected', 'value'], 'input');
      return { type: 'cas', expected: registerValue(json.expected, 'input.expected'), value: registerValue(json.value, 'input.value') };
    default:
      throw new HistoryError(`input.type: expected 'read', 'write' or 'cas', got ${describeJson(json.type)}`);
  }
}

function decodeOutput(_input: RegisterInput, json: unknown): RegisterOutput {
  if (!isRecord(json) || typeof json.ok !== 'boolean') throw new HistoryError(`output: expected an object with a boolean 'ok', got ${describeJson(json)}`);
  if (json.ok) {
    onlyFields(json, ['ok', 'value'], 'output');
    return 'value' in json ? { ok: true, value: registerValue(json.value, 'output.value') } : { ok: true };
  }
  onlyFields(json, ['ok', 'actual'], 'output');
  return 'actual' in json ? { ok: false, actual: registerValue(json.actual, 'output.actual') } : { ok: false };
}

function ednRegisterValue(value: EdnValue | undefined, what: string): RegisterValue {
  if (value === undefined || value === null || typeof value === 'string' || typeof value === 'number') return value ?? null;
  throw new HistoryError(`${what}: a register value is an integer, a string or nil, got ${describeEdn(value)}`);
}

function fromJepsen({ f, invokeValue, okValue }: JepsenOperation): { input: RegisterInput; output: RegisterOutput | undefined } {
  switch (f) {
    case 'read':
      return { input: { type: 'read' }, output: okValue === undefined ? undefined : { ok: true, value: ednRegisterValue(okValue, ':value of the :ok read') } };
    case 'write':
      return { input: { type: 'write', value: ednRegisterValue(invokeValue, ':value of the write') }, output: okValue === undefined ? undefined : { ok: true } };
    case 'cas': {
      if (!isVector(invokeValue) || invokeValue.length !== 2) throw new HistoryError(`:value of a cas: expected [old new], got ${describeEdn(invokeValue)}`);
      const input: RegisterInput = { type: 'cas', expected: ednRegisterValue(invokeValue[0], 'cas old value'), value: ednRegisterValue(invokeValue[1], 'cas new value') };
      return { input, output: okValue === undefined ? undefined : { ok: true } };
    }
    default:
      throw new HistoryError(`:f: the register model knows :read, :write and :cas, got :${f}`);
  }
}

export const registerCodec: HistoryCodec<RegisterInput, RegisterOutput> = { model: registerModel, decodeInput, decodeOutput, fromJepsen };
