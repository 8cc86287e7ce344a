/** The simulator's key-value history (`HistoryOperation`) as the checker's `ModelOperation`s for `kvModel`. */
import type { KvOperation } from '@vsr/kv';
import type { ModelOperation } from '../model.js';
import type { HistoryOperation } from '../linearizability.js';
import type { KvOutput } from './kv-model.js';

export function fromSimulatorHistory(history: readonly HistoryOperation[]): ModelOperation<KvOperation, KvOutput>[] {
  return history.map((op) => ({
    id: op.id,
    clientId: op.clientId,
    input: op.operation,
    callMs: op.callMs,
    // An indeterminate op's recorded returnMs (when the client gave up) says nothing: the
    // request may still be in flight, so it is left open, as the old checker does.
    returnMs: op.outcome.type === 'ok' ? op.returnMs : null,
    output: op.outcome.type === 'ok' ? op.outcome.result : undefined,
  }));
}
