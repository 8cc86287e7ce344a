/**
 * The key-value machine the simulator runs, wrapped to count executions of
 * each (client, request number): exactly-once execution becomes a plain
 * number in every replica's application state.
 */
import { Set as ImmutableSet } from 'immutable';
import type { StateMachine } from '@vsr/core';
import { kvMachine, type KvOperation, type KvResult, type KvState } from '@vsr/kv';

export interface CountedState {
  readonly kv: KvState;
  readonly executed: ImmutableSet<string>;
  readonly duplicates: number;
}

export const countedKvMachine: StateMachine<CountedState, KvOperation, KvResult> = {
  name: 'kv (counted)',
  operation: kvMachine.operation,
  init: () => ({ kv: kvMachine.init(), executed: ImmutableSet<string>(), duplicates: 0 }),
  apply: (state, operation, context) => {
    const key = `${context.clientId}#${context.requestNumber}`;
    const [kv, result] = kvMachine.apply(state.kv, operation, context);
    const duplicate = state.executed.has(key);
    return [{ kv, executed: state.executed.add(key), duplicates: state.duplicates + (duplicate ? 1 : 0) }, result];
  },
  // The executed set stays a persistent set inside the snapshot (it serialises to a JSON array):
  // copying it into a sorted array at every checkpoint would cost O(history).
  snapshot: (state) => ({ kv: kvMachine.snapshot(state.kv), executed: state.executed, duplicates: state.duplicates }),
  restore: (snapshot) => {
    const { kv, executed, duplicates } = snapshot as { kv: unknown; executed: Iterable<string>; duplicates: number };
    return { kv: kvMachine.restore(kv), executed: ImmutableSet(executed), duplicates };
  },
};
