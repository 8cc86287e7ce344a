/**
 * The pure pieces: the canonical JSON text keys and values are stored as (a property test),
 * the reading of lin-kv requests and machine results, and the reading of a harness history
 * for the checker, whose outcomes (ok, fail with an observation, fail that did not happen,
 * info) each mean what Jepsen says.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, replyOf, toKvOperation } from '../src/kv-ops.js';
import { checkEvents, toModelOperations, type HistoryEvent } from '../src/harness/history.js';
import { LineLog } from '../src/log.js';
import { parseLine } from '../src/wire.js';
import { testSeed } from './seed.js';

const seed = testSeed();

/** The value as JSON carries it (-0 becomes 0). */
const normal = (value: unknown): unknown => JSON.parse(JSON.stringify(value)) as unknown;

/** The same value with every object's fields in reverse order. */
function reordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reordered);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).reverse().map(([field, inner]) => [field, reordered(inner)]));
  return value;
}

describe(`canonical JSON (fast-check seed ${seed})`, () => {
  it('is one text per JSON value, whatever the field order, and reads back as the value', () => {
    console.log(`mapping property seed ${seed} (replay: VSR_MAELSTROM_SEED=${seed})`);
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        expect(canonicalJson(reordered(a))).toBe(canonicalJson(a));
        expect(JSON.parse(canonicalJson(a))).toEqual(normal(a));
        expect(canonicalJson(a) === canonicalJson(b)).toBe(isDeepStrictEqual(normal(a), normal(b)));
      }),
      { seed, numRuns: 300 },
    );
  });

  it('a value written is the value read, through the machine result', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const write = toKvOperation({ type: 'write', key: 1, value });
        if (!write.ok || write.request.operation.type !== 'write') throw new Error('write refused');
        expect(replyOf('read', { ok: true, value: write.request.operation.value })).toEqual({ type: 'read_ok', value: normal(value) });
      }),
      { seed, numRuns: 200 },
    );
  });
});

describe('lin-kv requests and results', () => {
  it('maps results to replies and refuses what the machine cannot hold', () => {
    expect(replyOf('cas', { ok: false, error: 'precondition-failed', actual: '3' })).toMatchObject({ type: 'error', code: 22 });
    expect(replyOf('cas', { ok: false, error: 'not-found' })).toMatchObject({ type: 'error', code: 20 });
    expect(replyOf('write', { ok: true })).toEqual({ type: 'write_ok' });
    // Not a key-value result: indefinite, never a guess.
    expect(replyOf('read', 'nonsense')).toMatchObject({ type: 'error', code: 13 });
    expect(replyOf('read', { ok: true, value: 'not json{' })).toMatchObject({ type: 'error', code: 13 });
    expect(toKvOperation({ type: 'write', key: 1, value: 'x'.repeat(70_000) })).toMatchObject({ ok: false, code: 12 });
    expect(toKvOperation({ type: 'cas', key: 1, from: 1 })).toMatchObject({ ok: false, code: 12, text: 'a cas needs a to' });
    expect(toKvOperation({ type: 'cas', key: null, from: 1, to: 2 })).toEqual({ ok: true, request: { kind: 'cas', operation: { type: 'cas', key: 'null', expected: '1', value: '2' } } });
  });

  it('refuses lines that are not messages, naming the sender when it can', () => {
    expect(parseLine('{')).toMatchObject({ ok: false, refusal: { reason: expect.stringMatching(/not JSON/) } });
    expect(parseLine('[1]')).toMatchObject({ ok: false, refusal: { reason: expect.stringMatching(/not an object/) } });
    expect(parseLine(`{"src":"c1","dest":"n1","body":${'{"a":'.repeat(70)}1${'}'.repeat(70)}}`)).toMatchObject({ ok: false, refusal: { reason: expect.stringMatching(/nested more than 64/) } });
    expect(parseLine('{"src":"c1","dest":"n1","body":{"msg_id":3}}')).toEqual({ ok: false, refusal: { reason: expect.stringMatching(/body.type/), sender: { src: 'c1', msgId: 3 } } });
    expect(parseLine(`{"src":"${'c'.repeat(65)}","dest":"n1","body":{"type":"read"}}`)).toMatchObject({ ok: false });
    expect(parseLine('{"src":"c1","dest":"n1","body":{"type":"read","msg_id":1,"key":1}}')).toMatchObject({ ok: true, envelope: { src: 'c1', body: { type: 'read', key: 1 } } });
  });
});

const at = (process: string, type: HistoryEvent['type'], f: HistoryEvent['f'], value: HistoryEvent['value'], timeMs: number, code?: number): HistoryEvent =>
  code === undefined ? { process, type, f, value, timeMs } : { process, type, f, value, timeMs, error: { code, text: '' } };

describe('a harness history for the checker', () => {
  it('keeps observations, drops what did not happen, and leaves the unknown open', () => {
    const operations = toModelOperations([
      at('c1', 'invoke', 'write', [1, 5], 0),
      at('c1', 'ok', 'write', [1, 5], 1),
      at('c1', 'invoke', 'cas', [1, [4, 6]], 2),
      at('c1', 'fail', 'cas', [1, [4, 6]], 3, 22),
      at('c1', 'invoke', 'write', [1, 7], 4),
      at('c1', 'fail', 'write', [1, 7], 5, 11),
      at('c1', 'invoke', 'cas', [1, [5, 8]], 6),
      at('c1', 'info', 'cas', [1, [5, 8]], 7, 13),
      at('c2', 'invoke', 'read', [2, null], 8),
      at('c2', 'fail', 'read', [2, null], 9, 20),
      at('c2', 'invoke', 'read', [1, null], 10),
    ]);
    expect(operations.map((op) => [op.id, op.input.type, op.returnMs, op.output])).toEqual([
      [0, 'write', 1, { ok: true }],
      [1, 'cas', 3, { ok: false, error: 'precondition-failed' }],
      [3, 'cas', null, undefined],
      [4, 'read', 9, { ok: false, error: 'not-found' }],
      [5, 'read', null, undefined],
    ]);
  });

  it('rejects a read of nothing after a write completed, and accepts it while the write was open', () => {
    const stale = [at('c1', 'invoke', 'write', [1, 5], 0), at('c1', 'ok', 'write', [1, 5], 1), at('c2', 'invoke', 'read', [1, null], 2), at('c2', 'fail', 'read', [1, null], 3, 20)];
    expect(checkEvents(stale).result.verdict).toBe('not-linearizable');
    const concurrent = [at('c1', 'invoke', 'write', [1, 5], 0), at('c2', 'invoke', 'read', [1, null], 1), at('c2', 'fail', 'read', [1, null], 2, 20), at('c1', 'ok', 'write', [1, 5], 3)];
    expect(checkEvents(concurrent).result.verdict).toBe('linearizable');
  });
});

describe('the log', () => {
  it('rate-limits refusals and says how many it left out', () => {
    const lines: string[] = [];
    let nowMs = 0;
    const log = new LineLog({ write: (line) => lines.push(line), nowMs: () => nowMs, name: () => 'n1', refusalsPerSecondMax: 3 });
    for (let index = 0; index < 5; index++) log.refuse(`bad ${index}`);
    log.info('still here');
    nowMs = 1_000;
    log.refuse('bad 5');
    expect(lines).toEqual(['n1 refused: bad 0\n', 'n1 refused: bad 1\n', 'n1 refused: bad 2\n', 'n1 still here\n', 'n1 refused: bad 5 (2 earlier refusals not logged)\n']);
  });
});
