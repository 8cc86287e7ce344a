/**
 * The adapter between the simulator and the model-generic checker: a history the simulator
 * recorded becomes `ModelOperation`s (model.ts) and `checkHistory` (src/check/) checks it
 * against the user's `Model`. A search that spends its step budget gives "unknown", never a
 * guess; the simulator reports that as a violation of its own kind, so it is never taken for a
 * pass.
 */
import { checkHistory, type CheckResult } from '../check/search.js';
import type { Model, ModelOperation } from '../model.js';
import type { SimulatedOperation } from './types.js';

export function toModelOperations<Op, R>(history: ReadonlyArray<SimulatedOperation<Op, R>>): Array<ModelOperation<Op, R>> {
  return history.map((operation) => ({
    id: operation.id,
    clientId: operation.clientId,
    input: operation.operation,
    callMs: operation.callMs,
    returnMs: operation.returnMs,
    output: operation.outcome.type === 'ok' ? operation.outcome.result : undefined,
  }));
}

export function checkModelHistory<State, Op, R>(
  model: Model<State, Op, R>,
  history: ReadonlyArray<SimulatedOperation<Op, R>>,
): CheckResult {
  return checkHistory(model, toModelOperations(history));
}
