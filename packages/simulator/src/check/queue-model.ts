/**
 * The queue model: a FIFO queue of values (integers or strings), empty at first. `enqueue`
 * appends; `dequeue` removes and returns the head, or returns empty (`value: null`) on an
 * empty queue. A dequeue's output without `value` is unknown (it removed something, or found
 * the queue empty). Enqueues have no result to check: their output is `{}`.
 */
import type { Model, ModelOperation } from '../model.js';
import { describeEdn, type EdnValue } from './edn.js';
import { describeJson, HistoryError, isRecord, onlyFields, type HistoryCodec, type JepsenOperation } from './codec.js';

export type QueueValue = number | string;

export type QueueInput = { readonly type: 'enqueue'; readonly value: QueueValue } | { readonly type: 'dequeue' };

/** A dequeue's `value`: the head it removed, or null for "empty". */
export interface QueueOutput {
  readonly value?: QueueValue | null;
}

export const queueModel: Model<readonly QueueValue[], QueueInput, QueueOutput> = {
  name: 'queue',
  init: () => [],
  step(state, input, output) {
    if (input.type === 'enqueue') return [[...state, input.value]];
    const seen = output?.value;
    if (state.length === 0) return seen === undefined || seen === null ? [state] : [];
    return seen === undefined || seen === state[0] ? [state.slice(1)] : [];
  },
  stateKey: (state) => JSON.stringify(state),
  describeOperation: describeQueueOperation,
  describeState: (state) => JSON.stringify(state),
};

function describeQueueOperation(op: ModelOperation<QueueInput, QueueOutput>): string {
  const what = op.input.type === 'enqueue' ? `enqueue ${describeJson(op.input.value)}` : 'dequeue';
  if (op.returnMs === null) return `#${op.id} ${what} (indeterminate)`;
  if (op.input.type === 'enqueue') return `#${op.id} ${what} returned`;
  const seen = op.output?.value;
  return `#${op.id} ${what} returned ${seen === undefined ? '(unknown)' : seen === null ? 'empty' : describeJson(seen)}`;
}

function queueValue(value: unknown, what: string): QueueValue {
  if (typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value))) return value;
  throw new HistoryError(`${what}: a queue value is an integer or a string, got ${describeJson(value)}`);
}

function decodeInput(json: unknown): QueueInput {
  if (!isRecord(json)) throw new HistoryError(`input: expected an object, got ${describeJson(json)}`);
  if (json.type === 'enqueue') {
    onlyFields(json, ['type', 'value'], 'input');
    return { type: 'enqueue', value: queueValue(json.value, 'input.value') };
  }
  if (json.type === 'dequeue') {
    onlyFields(json, ['type'], 'input');
    return { type: 'dequeue' };
  }
  throw new HistoryError(`input.type: expected 'enqueue' or 'dequeue', got ${describeJson(json.type)}`);
}

function decodeOutput(input: QueueInput, json: unknown): QueueOutput {
  if (!isRecord(json)) throw new HistoryError(`output: expected an object, got ${describeJson(json)}`);
  onlyFields(json, input.type === 'dequeue' ? ['value'] : [], 'output');
  if (!('value' in json)) return {};
  return { value: json.value === null ? null : queueValue(json.value, 'output.value') };
}

function ednQueueValue(value: EdnValue | undefined, what: string): QueueValue {
  if (typeof value === 'string' || typeof value === 'number') return value;
  throw new HistoryError(`${what}: a queue value is an integer or a string, got ${describeEdn(value)}`);
}

function fromJepsen({ f, invokeValue, okValue }: JepsenOperation): { input: QueueInput; output: QueueOutput | undefined } {
  if (f === 'enqueue') return { input: { type: 'enqueue', value: ednQueueValue(invokeValue, ':value of the enqueue') }, output: okValue === undefined ? undefined : {} };
  if (f === 'dequeue') {
    if (okValue === undefined) return { input: { type: 'dequeue' }, output: undefined };
    return { input: { type: 'dequeue' }, output: { value: okValue === null ? null : ednQueueValue(okValue, ':value of the :ok dequeue') } };
  }
  throw new HistoryError(`:f: the queue model knows :enqueue and :dequeue, got :${f}`);
}

export const queueCodec: HistoryCodec<QueueInput, QueueOutput> = { model: queueModel, decodeInput, decodeOutput, fromJepsen };
