/** A tiny state machine for the core's own tests and benchmark: it adds numbers. */
import * as t from 'io-ts';
import type { StateMachine } from '../src/index.js';

export const counterMachine: StateMachine<number, number, number> = {
  name: 'counter',
  operation: t.number,
  init: () => 0,
  apply: (state, add) => [state + add, state + add],
  snapshot: (state) => state,
  restore: (snapshot) => snapshot as number,
};
