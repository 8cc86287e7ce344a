/**
 * The machine the simulator runs is the user's, wrapped to count executions of each (client,
 * request number): exactly-once execution becomes a plain number in every replica's
 * application state, whatever the machine.
 */
import { Set as ImmutableSet } from 'immutable';
import type { MachineReads, StateMachine } from '@vsr/core';
import { kvMachine, type KvOperation, type KvResult, type KvState } from '@vsr/kv';

export interface Counted<S> {
  readonly app: S;
  readonly executed: ImmutableSet<string>;
  readonly duplicates: number;
}

export type CountedState = Counted<KvState>;

/** `machine`, counting re-executions of a (clientId, requestNumber) from the apply context. */
export function countedMachine<S, Op, R>(machine: StateMachine<S, Op, R>): StateMachine<Counted<S>, Op, R> {
  return {
    name: `${machine.name} (counted)`,
    operation: machine.operation,
    init: () => ({ app: machine.init(), executed: ImmutableSet<string>(), duplicates: 0 }),
    apply: (state, operation, context) => {
      const key = `${context.clientId}#${context.requestNumber}`;
      const [app, result] = machine.apply(state.app, operation, context);
      const duplicate = state.executed.has(key);
      return [{ app, executed: state.executed.add(key), duplicates: state.duplicates + (duplicate ? 1 : 0) }, result];
    },
    // The executed set stays a persistent set inside the snapshot (it serialises to a JSON array):
    // copying it into a sorted array at every checkpoint would cost O(history).
    snapshot: (state) => ({ app: machine.snapshot(state.app), executed: state.executed, duplicates: state.duplicates }),
    restore: (snapshot) => {
      const { app, executed, duplicates } = snapshot as { app: unknown; executed: Iterable<string>; duplicates: number };
      return { app: machine.restore(app), executed: ImmutableSet(executed), duplicates };
    },
    // Reads run nothing, so there is nothing to count: they pass straight to the machine's.
    ...(machine.reads === undefined ? {} : { reads: countedReads(machine.reads) }),
  };
}

export const countedKvMachine: StateMachine<CountedState, KvOperation, KvResult> = countedMachine(kvMachine);

function countedReads<S, R>(reads: MachineReads<S, unknown, R>): MachineReads<Counted<S>, unknown, R> {
  return { query: reads.query, answer: (state, query) => reads.answer(state.app, query) };
}
