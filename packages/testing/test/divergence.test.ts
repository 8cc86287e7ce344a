/**
 * A user's machine that is not deterministic makes replicas that agree on the log hold different
 * states: runSchedule reports it as a divergence and names the op, not as a liveness failure.
 */
import { expect, test } from 'vitest';
import { recorderMachine, runSchedule, type Action, type RecorderState } from '../src/index.js';
import type { StateMachine } from '@vsr/core';

/** The recorder, but what it records depends on how many times it ran, anywhere: as if it read a clock. */
function flakyRecorder(): StateMachine<RecorderState, string, number> {
  let applied = 0;
  return {
    ...recorderMachine,
    name: 'flaky recorder',
    apply: (state, operation, context) => recorderMachine.apply(state, `${operation}@${++applied % 2}`, context),
  };
}

// Two clients, each sending and then letting the cluster deliver, six times over.
const actions: Action[] = Array.from({ length: 12 }, (_, i): Action[] => [
  { kind: 'client', client: i % 2, replica: 0 },
  ...Array.from({ length: 12 }, (): Action => ({ kind: 'deliver', index: 0 })),
]).flat();

test('a machine that is not deterministic is reported as a divergence, naming the op', () => {
  const options = { replicaCount: 3, clientCount: 2, actionsMax: actions.length, crashes: false, trace: false };
  expect(() => runSchedule(actions, { ...options, machine: recorderMachine })).not.toThrow();
  expect(() => runSchedule(actions, { ...options, machine: flakyRecorder() })).toThrow(
    /^divergence: replicas 0 and \d executed the same \d+ ops in view 0 but hold different states; replaying the log twice, op \d+ leaves two different states: the machine is not deterministic/,
  );
});
