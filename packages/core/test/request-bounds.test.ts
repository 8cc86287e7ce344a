/**
 * Client requests are untrusted: before a primary queues one (and so before
 * it is journaled and sent to every backup), the core checks its size, its
 * depth and its operation, registrations included, and refuses with a
 * reason to the client. The replica runs on with its state unchanged.
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import {
  initialState,
  jsonDepthWithin,
  measureJson,
  step,
  JSON_DEPTH_MAX,
  OPERATION_DEPTH_MAX,
  VIEW_NUMBER_MAX,
  type Effect,
  type Event,
  type ReplicaState,
} from '../src/index.js';
import { counterMachine, run } from './counter.js';

function booted(limits: Record<string, number> = {}): ReplicaState {
  const [state] = step(initialState({ replicaId: 0, replicaCount: 1, limits }, counterMachine), { kind: 'boot', storage: null });
  return state;
}


const request = (clientId: string, requestNumber: number, operation: unknown): Event => ({ kind: 'client-request', request: { clientId, requestNumber, operation } });
const nested = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};
const errors = (effects: Effect[]) => effects.flatMap((effect) => (effect.kind === 'reply' && effect.reply.type === 'error' ? [effect.reply] : []));
const appends = (effects: Effect[]) => effects.filter((effect) => effect.kind === 'log-append');

describe('a client request is bounded and validated before it is queued', () => {
  test('a registration carrying an operation is refused: nothing is journaled, and the client is told why', () => {
    const [state, effects] = run(booted(), [request('c', 0, 'x'.repeat(900_000))]);
    expect(appends(effects)).toEqual([]);
    expect(errors(effects)).toMatchObject([{ clientId: 'c', requestNumber: 0, code: 'invalid-operation', message: expect.stringMatching(/registration.*expected null/) }]);
    expect(effects.some((effect) => effect.kind === 'reject')).toBe(true);
    expect(state.log.lastOpNumber).toBe(0);
  });

  test('a registration nested 200,000 deep is refused without a stack overflow', () => {
    const [state, effects] = run(booted(), [request('c', 0, nested(200_000))]);
    expect(appends(effects)).toEqual([]);
    expect(errors(effects)[0]?.message).toMatch(/nested more than/);
    expect(state.log.lastOpNumber).toBe(0);
  });

  test('an operation over the byte limit is refused; one under it commits', () => {
    const limits = { requestBytesMax: 200 };
    const [state, effects] = run(booted(limits), [request('c', 0, null), request('c', 1, 5), request('c', 2, 'x'.repeat(300))]);
    expect(appends(effects)).toHaveLength(2);
    expect(state.app.value).toBe(5);
    expect(errors(effects)).toMatchObject([{ requestNumber: 2, message: expect.stringMatching(/over 200 bytes/) }]);
  });

  test('fields a client attaches beside clientId, requestNumber and operation are not journaled', () => {
    const [, effects] = run(booted(), [{ kind: 'client-request', request: { clientId: 'd', requestNumber: 0, operation: null, padding: 'p'.repeat(300) } }]);
    expect(appends(effects)).toMatchObject([{ entry: { requests: [{ clientId: 'd', requestNumber: 0, operation: null }] } }]);
    expect(JSON.stringify(appends(effects))).not.toMatch(/padding/);
  });

  test('an operation the machine does not accept is refused at the primary, before it is queued', () => {
    const [, effects] = run(booted(), [request('c', 0, null), request('c', 1, 'not a number')]);
    expect(appends(effects)).toHaveLength(1);
    expect(errors(effects)).toMatchObject([{ code: 'invalid-operation', requestNumber: 1 }]);
  });

  test('the queue is bounded in bytes: past requestQueueBytesMax the primary answers busy', () => {
    // Three replicas with no messages delivered: the pipeline fills (pipelineMax 1) and the queue holds the rest.
    let state = initialState({ replicaId: 0, replicaCount: 3, limits: { pipelineMax: 1, requestBytesMax: 100, requestQueueBytesMax: 150 } }, counterMachine);
    [state] = step(state, { kind: 'boot', storage: null });
    const [, effects] = run(state, [request('a', 0, null), request('b', 0, null), request('c', 0, null), request('d', 0, null)]);
    expect(errors(effects)).toMatchObject([{ clientId: 'd', code: 'busy', message: expect.stringMatching(/bytes/) }]);
  });
});

describe('measureJson', () => {
  test('agrees with JSON.stringify on the size of plain JSON (escapes aside) and never throws', () => {
    const seed = Number(process.env['VSR_SEED'] ?? Date.now() % 1_000_000);
    console.log(`measureJson property: VSR_SEED=${seed}`);
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        const hasEscapes = /[\\"\u0000-\u001f]/.test(text.replace(/^"|"$/g, '')) || /\\/.test(text);
        const measured = measureJson(value, 1 << 30);
        expect(measured.ok).toBe(true);
        if (measured.ok && !hasEscapes) expect(measured.bytes).toBe(Buffer.byteLength(text, 'utf8'));
      }),
      { seed, numRuns: 300 },
    );
  });

  test('refuses cycles, functions and throwing getters with a reason', () => {
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    expect(measureJson(cycle, 1 << 20)).toMatchObject({ ok: false, reason: expect.stringMatching(/nested/) });
    expect(measureJson({ f: () => 1 }, 1 << 20)).toMatchObject({ ok: false, reason: expect.stringMatching(/function/) });
    const hostile = Object.defineProperty({}, 'x', { enumerable: true, get: () => { throw new Error('boom'); } });
    expect(measureJson(hostile, 1 << 20)).toMatchObject({ ok: false, reason: expect.stringMatching(/could not be read/) });
  });

  test('stops at the bound: depth exactly at the limit passes, one more fails', () => {
    expect(measureJson(nested(OPERATION_DEPTH_MAX), 1 << 20, OPERATION_DEPTH_MAX).ok).toBe(true);
    expect(measureJson(nested(OPERATION_DEPTH_MAX + 1), 1 << 20, OPERATION_DEPTH_MAX).ok).toBe(false);
  });
});

describe('jsonDepthWithin reads the depth of JSON text before it is parsed', () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  test('it counts brackets outside strings only', () => {
    expect(jsonDepthWithin(bytes(JSON.stringify(nested(JSON_DEPTH_MAX))))).toBe(true);
    expect(jsonDepthWithin(bytes(JSON.stringify(nested(JSON_DEPTH_MAX + 1))))).toBe(false);
    expect(jsonDepthWithin(bytes(JSON.stringify({ text: '['.repeat(1000) + '\\"[[[' })))).toBe(true);
    expect(jsonDepthWithin(bytes('['.repeat(200_000)))).toBe(false);
  });
});

describe('a message naming a view near 2^53 is refused', () => {
  test('a StartViewChange for view Number.MAX_SAFE_INTEGER is rejected with a reason and moves nothing; one for VIEW_NUMBER_MAX is taken, and the replica can still count views up', () => {
    // Found by the fuzzer: a cluster moved to view 2^53 - 1 could not change views again (2^53 + 1 rounds to 2^53).
    let state = initialState({ replicaId: 1, replicaCount: 3 }, counterMachine);
    [state] = step(state, { kind: 'boot', storage: null });
    const svc = (viewNumber: number): Event => ({ kind: 'message', message: { type: 'start-view-change', cluster: 0, replica: 2, viewNumber, checkpointOpNumber: 0 } });
    const [refused, effects] = step(state, svc(Number.MAX_SAFE_INTEGER));
    expect(refused.viewNumber).toBe(0);
    expect(effects).toContainEqual(expect.objectContaining({ kind: 'reject', reason: expect.stringMatching(/viewNumber/) }));
    const [moved] = step(state, svc(VIEW_NUMBER_MAX));
    expect(moved.viewNumber).toBe(VIEW_NUMBER_MAX);
    const [next] = step(moved, { kind: 'timeout', timer: 'view-change-timeout' });
    expect(next.viewNumber).toBe(VIEW_NUMBER_MAX + 1);
    expect(Number.isSafeInteger(next.viewNumber + 1)).toBe(true);
  });
});
