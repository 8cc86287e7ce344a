/**
 * The reducer without a harness: a one-replica cluster (f = 0) commits each
 * op as soon as it is prepared, and describe() prints stable text.
 */
import { describe as suite, expect, test } from 'vitest';
import { describe, initialState, step } from '../src/index.js';
import { counterMachine, run } from './counter.js';



suite('a single replica', () => {
  test('commits and answers each request at once', () => {
    const [state, effects] = run(initialState({ replicaId: 0, replicaCount: 1 }, counterMachine), [
      { kind: 'boot', storage: null },
      { kind: 'client-request', request: { clientId: 'c', requestNumber: 0, operation: null } },
      { kind: 'client-request', request: { clientId: 'c', requestNumber: 1, operation: 5 } },
      { kind: 'client-request', request: { clientId: 'c', requestNumber: 2, operation: 7 } },
    ]);
    const replies = effects.filter((effect) => effect.kind === 'reply').map((effect) => (effect as { reply: unknown }).reply);
    expect(replies).toMatchObject([{ result: null }, { result: 5 }, { result: 12 }]);
    expect(state.app.value).toBe(12);
    expect(describe(state)).toBe(
      [
        'replica 0/1 primary view=0 status=normal last-normal-view=0 op=3 commit=3',
        '  log: 1@v0*[c#0] 2@v0*[c#1] 3@v0*[c#2]',
        '  pipeline: (empty) queue=0',
        '  clients: c#2',
      ].join('\n'),
    );
  });

  test('an operation the state machine rejects gets an error reply and never enters the log', () => {
    const [state, effects] = run(initialState({ replicaId: 0, replicaCount: 1 }, counterMachine), [
      { kind: 'boot', storage: null },
      { kind: 'client-request', request: { clientId: 'c', requestNumber: 0, operation: null } },
      { kind: 'client-request', request: { clientId: 'c', requestNumber: 1, operation: 'five' } },
    ]);
    expect(state.log.lastOpNumber).toBe(1);
    expect(effects.at(-1)).toMatchObject({ kind: 'reply', reply: { type: 'error', code: 'invalid-operation' } });
  });

  test('events before boot are rejected', () => {
    const booting = initialState({ replicaId: 0, replicaCount: 1 }, counterMachine);
    const [state, effects] = step(booting, { kind: 'timeout', timer: 'heartbeat' });
    expect(state).toBe(booting);
    expect(effects[0]).toEqual({ kind: 'reject', reason: 'timeout before boot: the replica has not booted', input: 'timeout' });
  });

  test('describe() shows a booting replica', () => {
    expect(describe(initialState({ replicaId: 2, replicaCount: 5 }, counterMachine))).toBe(
      ['replica 2/5 booting view=0 status=booting last-normal-view=0 op=0 commit=0', '  log: (empty)', '  clients: (none)'].join('\n'),
    );
  });

  test('describe() shows a log that starts after a checkpoint, however short it is', () => {
    // A checkpoint every 2 ops releases the log before the previous one: fewer entries are held than describe() shows.
    const booting = initialState({ replicaId: 0, replicaCount: 1, limits: { checkpointIntervalOps: 2 } }, counterMachine);
    const requests = [0, 1, 2, 3, 4, 5].map((requestNumber) => ({ kind: 'client-request' as const, request: { clientId: 'c', requestNumber, operation: requestNumber === 0 ? null : requestNumber } }));
    const [state] = run(booting, [{ kind: 'boot', storage: null }, ...requests]);
    const base = state.log.baseOpNumber;
    expect(base).toBeGreaterThan(0);
    expect(state.log.lastOpNumber - base).toBeLessThan(6);
    const text = describe(state);
    expect(text).toContain(`log: ... ${base + 1}@v0*[c#${base}]`);
    expect(text).toContain(`log held from op ${base + 1}`);
  });
});
