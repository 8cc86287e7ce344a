/**
 * The JSON history format: an array of operations, each
 *
 *   {"id": 0, "clientId": "c1", "input": {...}, "callMs": 0, "returnMs": 5, "output": {...}}
 *
 * as `ModelOperation` (model.ts): `id` a unique integer; `clientId` a string (or an integer,
 * read as its decimal text); `callMs` and `returnMs` finite numbers; an indeterminate op has
 * `"returnMs": null` and no `output` (or `"output": null`). A completed op without `output`
 * has an unknown output (anything goes). `input` and `output` are the model's (its codec says
 * what it accepts). No other fields are allowed, so a misspelt field is refused, not ignored.
 */
import type { ModelOperation } from '../model.js';
import { validateHistory } from './search.js';
import { describeJson, HistoryError, isRecord, onlyFields, type HistoryCodec } from './codec.js';

export const JSON_HISTORY_OPERATIONS_MAX = 1_000_000;

export function parseJsonHistory<Input, Output>(text: string, codec: HistoryCodec<Input, Output>): ModelOperation<Input, Output>[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new HistoryError(`JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!Array.isArray(json)) throw new HistoryError(`JSON: expected an array of operations, got ${describeJson(json)}`);
  if (json.length > JSON_HISTORY_OPERATIONS_MAX) throw new HistoryError(`JSON: more than ${JSON_HISTORY_OPERATIONS_MAX} operations`);
  const history = json.map((item: unknown, index) => {
    try {
      return toOperation(item, codec);
    } catch (error) {
      if (error instanceof HistoryError) throw new HistoryError(`operation ${index} (history[${index}]): ${error.message}`);
      throw error;
    }
  });
  try {
    validateHistory(history);
  } catch (error) {
    throw new HistoryError(error instanceof Error ? error.message.replace(/^checkHistory: /, '') : String(error));
  }
  return history;
}

const FIELDS = ['id', 'clientId', 'input', 'callMs', 'returnMs', 'output'];

function toOperation<Input, Output>(item: unknown, codec: HistoryCodec<Input, Output>): ModelOperation<Input, Output> {
  if (!isRecord(item)) throw new HistoryError(`expected an object, got ${describeJson(item)}`);
  onlyFields(item, FIELDS, 'operation');
  const { id, clientId, callMs, returnMs } = item;
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw new HistoryError(`id must be an integer, got ${describeJson(id)}`);
  if (typeof clientId !== 'string' && !(typeof clientId === 'number' && Number.isSafeInteger(clientId))) {
    throw new HistoryError(`clientId must be a string or an integer, got ${describeJson(clientId)}`);
  }
  if (typeof callMs !== 'number') throw new HistoryError(`callMs must be a number, got ${describeJson(callMs)}`);
  if (returnMs !== null && typeof returnMs !== 'number') throw new HistoryError(`returnMs must be a number or null, got ${describeJson(returnMs)}`);
  if (!('input' in item)) throw new HistoryError('input is missing');
  const input = codec.decodeInput(item.input);
  const hasOutput = item.output !== undefined && item.output !== null;
  if (returnMs === null && hasOutput) throw new HistoryError('an indeterminate op ("returnMs": null) cannot have an output');
  return { id, clientId: String(clientId), input, callMs, returnMs, output: hasOutput ? codec.decodeOutput(input, item.output) : undefined };
}
