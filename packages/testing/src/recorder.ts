/**
 * A state machine for tests: it records every (client, request) it executes
 * and counts executions it had already seen, so "duplicates never execute
 * twice" is a plain check on the application state.
 */
import * as t from 'io-ts';
import { Set as ImmutableSet } from 'immutable';
import type { StateMachine } from '@vsr/core';

export interface RecorderState {
  readonly executed: ImmutableSet<string>;
  readonly duplicates: number;
  /** Operations in execution order, for comparing replicas. */
  readonly history: readonly string[];
}

export const recorderMachine: StateMachine<RecorderState, string, number> = {
  name: 'recorder',
  operation: t.string,
  init: () => ({ executed: ImmutableSet<string>(), duplicates: 0, history: [] }),
  apply: (state, operation, context) => {
    const key = `${context.clientId}#${context.requestNumber}`;
    const duplicate = state.executed.has(key);
    const history = [...state.history, `${key}:${operation}`];
    return [
      { executed: state.executed.add(key), duplicates: state.duplicates + (duplicate ? 1 : 0), history },
      history.length,
    ];
  },
  snapshot: (state) => ({ duplicates: state.duplicates, history: state.history }),
  restore: (snapshot) => {
    const { duplicates, history } = snapshot as { duplicates: number; history: string[] };
    return { executed: ImmutableSet(history.map((line) => line.slice(0, line.lastIndexOf(':')))), duplicates, history };
  },
};
