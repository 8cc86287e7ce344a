/**
 * The demo page's pure parts, in Node: the form's reading of a kv
 * operation, and the live timeline's sliding window (what the diagram is
 * drawn from).
 */
import { describe, expect, test } from 'vitest';
import { formOperation, parseValue } from '../../src/demo/kv-form.js';
import { LiveTimeline } from '../../src/demo/timeline.js';
import { cutLinks } from '../../src/demo/observe.js';

describe('the kv form', () => {
  test('reads each action into the machine operation', () => {
    expect(formOperation({ action: 'put', key: 'k', value: 'v', expected: '' })).toEqual({ ok: true, operation: { type: 'write', key: 'k', value: 'v' } });
    expect(formOperation({ action: 'get', key: 'k', value: 'ignored', expected: '' })).toEqual({ ok: true, operation: { type: 'read', key: 'k' } });
    expect(formOperation({ action: 'cas', key: 'k', value: '2', expected: '' })).toEqual({ ok: true, operation: { type: 'cas', key: 'k', expected: null, value: 2 } });
    expect(formOperation({ action: 'cas', key: 'k', value: 'b', expected: 'a' })).toEqual({ ok: true, operation: { type: 'cas', key: 'k', expected: 'a', value: 'b' } });
    expect(formOperation({ action: 'delete', key: 'k', value: '', expected: '' })).toEqual({ ok: true, operation: { type: 'delete', key: 'k' } });
  });

  test("refuses what the machine's codec refuses, with its reason", () => {
    const empty = formOperation({ action: 'get', key: '', value: '', expected: '' });
    expect(empty).toMatchObject({ ok: false, reason: expect.stringMatching(/^operation\.key: expected Key/) });
    expect(formOperation({ action: 'put', key: 'k'.repeat(257), value: 'v', expected: '' }).ok).toBe(false);
    expect(formOperation({ action: 'launch', key: 'k', value: '', expected: '' })).toEqual({ ok: false, reason: 'unknown action "launch"' });
  });

  test('a value is a number only when it is written as JavaScript prints one', () => {
    expect([parseValue('17'), parseValue('-2.5'), parseValue('007'), parseValue('1e3'), parseValue(''), parseValue('abc')]).toEqual([17, -2.5, '007', '1e3', '', 'abc']);
  });
});

describe('the live timeline', () => {
  const clock = { nowMs: 0 };
  const timeline = () => new LiveTimeline({ replicaCount: 3, windowMs: 1_000, arrowsMax: 2, operationsMax: 3, nowMs: () => clock.nowMs });

  test('stamps events with its clock, relative to the window, and pairs an early delivery with its send', () => {
    clock.nowMs = 5_000;
    const live = timeline();
    live.record({ kind: 'deliver', id: 7, to: 1 });
    clock.nowMs = 5_010;
    live.record({ kind: 'send', id: 7, from: 0, to: 1, type: 'prepare', viewNumber: 0 });
    clock.nowMs = 5_500;
    const { events, endMs } = live.input([]);
    expect(endMs).toBe(1_000);
    expect(events).toEqual([
      { kind: 'send', id: 7, from: 0, to: 1, type: 'prepare', viewNumber: 0, atMs: 510 },
      { kind: 'deliver', id: 7, to: 1, atMs: 510 },
    ]);
  });

  test('draws only the newest operationsMax client operations that reach into the window, in call order', () => {
    clock.nowMs = 10_000;
    const op = (id: number, callMs: number, returnMs: number | null) => ({
      id, clientId: 'c', operation: { type: 'read' as const, key: 'k' }, callMs, returnMs,
      outcome: returnMs === null ? { type: 'indeterminate' as const } : { type: 'ok' as const, result: { ok: false as const, error: 'not-found' as const } },
    });
    // #1 ended before the window (9,000..10,000); #2 is still in flight; #3..#6 end inside it.
    const history = [op(1, 8_000, 8_500), op(2, 8_600, null), op(3, 9_100, 9_200), op(4, 9_300, 9_400), op(5, 9_500, 9_600), op(6, 9_700, 9_800)];
    expect(timeline().input(history).history.map((drawn) => [drawn.id, drawn.callMs])).toEqual([[4, 300], [5, 500], [6, 700]]);
    expect(timeline().input(history.slice(0, 3)).history.map((drawn) => [drawn.id, drawn.callMs, drawn.returnMs])).toEqual([[2, 0, null], [3, 100, 200]]);
  });

  test('folds what leaves the window into each lane’s state at its start', () => {
    clock.nowMs = 0;
    const live = timeline();
    live.record({ kind: 'state', replicaId: 0, viewNumber: 2, status: 'normal', opNumber: 5, commitNumber: 5 });
    live.record({ kind: 'crash', replicaId: 1 });
    live.record({ kind: 'partition', blocked: cutLinks(3, new Set([2])) });
    live.record({ kind: 'send', id: 1, from: 0, to: 2, type: 'commit', viewNumber: 2 });
    clock.nowMs = 3_000;
    live.record({ kind: 'restart', replicaId: 1 });
    const { events } = live.input([]);
    expect(events).toEqual([
      { kind: 'state', replicaId: 0, viewNumber: 2, status: 'normal', opNumber: 5, commitNumber: 5, atMs: 0 },
      { kind: 'crash', replicaId: 1, atMs: 0 },
      { kind: 'partition', blocked: [[0, 2], [1, 2], [2, 0], [2, 1]], atMs: 0 },
      { kind: 'restart', replicaId: 1, atMs: 1_000 },
    ]);
  });

  test('keeps arrows for only the newest arrowsMax messages, and draws them', () => {
    clock.nowMs = 0;
    const live = timeline();
    for (let id = 1; id <= 4; id++) {
      clock.nowMs = id * 10;
      live.record({ kind: 'send', id, from: 0, to: 1, type: 'prepare', viewNumber: 0 });
      live.record({ kind: 'deliver', id, to: 1 });
    }
    const { events } = live.input([]);
    expect(events.filter((event) => event.kind === 'send').map((event) => ('id' in event ? event.id : null))).toEqual([3, 4]);
    expect(live.render([], 500).match(/class="msg t-prepare"/g)).toHaveLength(2);
  });

  test('client operations move with the window; one that ended before it is left out', () => {
    clock.nowMs = 2_000;
    const live = timeline();
    const ok = { type: 'ok', result: { ok: true } } as const;
    const history = [
      { id: 1, clientId: 'c', operation: { type: 'write', key: 'k', value: 1 }, callMs: 100, returnMs: 200, outcome: ok },
      { id: 2, clientId: 'c', operation: { type: 'write', key: 'k', value: 2 }, callMs: 900, returnMs: 1_500, outcome: ok },
      { id: 3, clientId: 'c', operation: { type: 'read', key: 'k' }, callMs: 1_600, returnMs: null, outcome: { type: 'indeterminate' } },
    ] as const;
    expect(live.input(history.map((op) => ({ ...op }))).history.map((op) => [op.id, op.callMs, op.returnMs])).toEqual([
      [2, 0, 500],
      [3, 600, null],
    ]);
  });
});
