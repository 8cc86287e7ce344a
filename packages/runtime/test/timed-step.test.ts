/** timedStep: the reducer's step, timed by the clock the runtime passes in. */
import { describe, expect, test } from 'vitest';
import { NonNegativeInteger, initialState, step, type StateMachine } from '@vsr/core';
import { timedStep } from '../src/index.js';

const adder: StateMachine<number, number, number> = {
  name: 'adder',
  operation: NonNegativeInteger,
  init: () => 0,
  apply: (state, add) => [state + add, state + add],
  snapshot: (state) => state,
  restore: (snapshot) => snapshot as number,
};

describe('timedStep', () => {
  test('gives what step gives, and the time between the clock readings around it', () => {
    const state = initialState({ replicaId: 0, replicaCount: 1 }, adder);
    const readings = [10, 12.5];
    const timed = timedStep(state, { kind: 'boot', storage: null }, () => readings.shift() ?? Number.NaN);
    const [expected, effects] = step(state, { kind: 'boot', storage: null });
    expect(timed.stepDurationMs).toBe(2.5);
    expect(timed.effects).toEqual(effects);
    expect(timed.state.status).toBe(expected.status);
    // A clock that steps back (it should not) gives 0, never a negative duration.
    expect(timedStep(state, { kind: 'boot', storage: null }, (() => { const r = [5, 4]; return () => r.shift() ?? 0; })()).stepDurationMs).toBe(0);
  });
});
