/**
 * The reducer is total and deterministic: arbitrary events (garbage,
 * well-shaped messages with hostile values, wrong views, unknown senders)
 * never make `step` throw; the same state and event always give byte-identical
 * results; and input that is rejected leaves the state exactly as it was.
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { Effect, step, type Event, type ReplicaState } from '@vsr/core';
import { kvMachine } from '@vsr/kv';
import { Cluster, recorderMachine, runSchedule, scheduleArbitrary } from '../src/index.js';

/** States worth fuzzing: booting, primary, backup, mid view change, primary-elect, lagging. */
function reachableStates(): ReplicaState[] {
  const cluster = new Cluster({ replicaCount: 3, machine: kvMachine, trace: false });
  const states: ReplicaState[] = [];
  cluster.request(0, 'alice', 0);
  cluster.deliverAll();
  cluster.request(0, 'alice', 1, { type: 'write', key: 'k', value: 1 });
  cluster.deliverAll((envelope) => envelope.message.type === 'prepare');
  states.push(...cluster.states); // Primary with an uncommitted op; backups that hold it.
  cluster.deliverAll();
  cluster.crash(0);
  cluster.fire(1, 'primary-timeout');
  states.push(cluster.states[1]!); // A primary-elect in view-change status.
  cluster.deliverAll((envelope) => envelope.to === 2);
  states.push(cluster.states[2]!); // A backup that sent DoViewChange.
  cluster.deliverAll();
  states.push(...cluster.states.slice(1)); // The new view.
  const fresh = new Cluster({ replicaCount: 5, machine: kvMachine, trace: false });
  states.push(fresh.states[3]!);
  return states;
}

const small = fc.nat({ max: 6 });
const request = fc.record({
  clientId: fc.oneof(fc.constantFrom('alice', 'bob', ''), fc.string()),
  requestNumber: fc.oneof(small, fc.integer(), fc.double()),
  operation: fc.oneof(fc.anything(), fc.record({ type: fc.constantFrom('read', 'write', 'cas', 'delete'), key: fc.string(), value: fc.anything() })),
});
const entry = fc.record({ opNumber: small, viewNumber: small, timestampMs: small, requests: fc.array(request, { maxLength: 2 }) });
const message = fc.record({
  type: fc.constantFrom('prepare', 'prepare-ok', 'commit', 'start-view-change', 'do-view-change', 'start-view', 'get-state', 'new-state', 'bogus'),
  cluster: fc.constantFrom(0, 0, 0, 1),
  replica: fc.integer({ min: -1, max: 5 }),
  viewNumber: small,
  opNumber: small,
  commitNumber: small,
  lastNormalView: small,
  entry,
  log: fc.array(entry, { maxLength: 4 }),
  entries: fc.array(entry, { maxLength: 4 }),
});
const event: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: message.map((m) => ({ kind: 'message', message: m })) },
  { weight: 2, arbitrary: request.map((r) => ({ kind: 'client-request', request: r })) },
  { weight: 1, arbitrary: fc.anything().map((m) => ({ kind: 'message', message: m })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('timeout'), timer: fc.oneof(fc.constantFrom('heartbeat', 'primary-timeout', 'prepare-retry', 'view-change-timeout', 'view-change-retry', 'repair-retry'), fc.string()) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('boot'), storage: fc.oneof(fc.constant(null), fc.anything()) }) },
  { weight: 1, arbitrary: fc.anything() },
);

describe('step is total and deterministic', () => {
  const states = reachableStates();

  test('arbitrary events never throw, are deterministic, and rejected input changes nothing', () => {
    let rejected = 0;
    fc.assert(
      fc.property(fc.nat({ max: states.length - 1 }), event, (index, e) => {
        const state = states[index]!;
        const [first, effects] = step(state, e as Event);
        const [second, effectsAgain] = step(state, e as Event);
        expect(JSON.stringify([second, effectsAgain])).toBe(JSON.stringify([first, effects]));
        // Every effect is well-formed plain data (it decodes with its codec).
        for (const effect of effects) expect(Effect.is(effect)).toBe(true);
        if (effects.some((effect) => effect.kind === 'reject')) {
          rejected++;
          expect(first).toBe(state);
        }
      }),
      { numRuns: 3000 },
    );
    expect(rejected).toBeGreaterThan(100);
  });

  test('the same schedule gives byte-identical replicas, replies and effects', () => {
    const options = { replicaCount: 3, clientCount: 2, actionsMax: 200, machine: recorderMachine };
    fc.assert(
      fc.property(scheduleArbitrary(options), (actions) => {
        const a = runSchedule(actions, options).cluster;
        const b = runSchedule(actions, options).cluster;
        expect(JSON.stringify(b.states)).toBe(JSON.stringify(a.states));
        expect(JSON.stringify(b.replies)).toBe(JSON.stringify(a.replies));
        expect(JSON.stringify(b.storage)).toBe(JSON.stringify(a.storage));
        expect(b.stepCount).toBe(a.stepCount);
      }),
      { numRuns: 20 },
    );
  });
});
