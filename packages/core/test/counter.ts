/** A tiny state machine for the core's own tests and benchmark: it adds numbers. */
import * as t from 'io-ts';
import { step, type Effect, type Event, type ReplicaState, type StateMachine } from '../src/index.js';

export const counterMachine: StateMachine<number, number, number> = {
  name: 'counter',
  operation: t.number,
  init: () => 0,
  apply: (state, add) => [state + add, state + add],
  snapshot: (state) => state,
  restore: (snapshot) => snapshot as number,
};

/** Steps `state` through `events`; the final state and every effect, in order. */
export function run(state: ReplicaState, events: Event[]): [ReplicaState, Effect[]] {
  const all: Effect[] = [];
  for (const event of events) {
    const [next, effects] = step(state, event);
    state = next;
    all.push(...effects);
  }
  return [state, all];
}
