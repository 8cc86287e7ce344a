import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { readEdn } from '../src/check/edn.js';
import { parseEdnHistory } from '../src/check/history-edn.js';
import { parseJsonHistory } from '../src/check/history-json.js';
import { HistoryError, type HistoryCodec } from '../src/check/codec.js';
import { registerCodec } from '../src/check/register-model.js';
import { kvCodec } from '../src/check/kv-model.js';
import { queueCodec } from '../src/check/queue-model.js';
import { checkHistory } from '../src/check/search.js';

const REGISTER_EDN = `
{:type :invoke, :f :write, :value 3, :process 0, :time 1000000}
{:type :invoke, :f :read, :value nil, :process 1, :time 2000000}
{:type :ok, :f :write, :value 3, :process 0, :time 3000000}
{:type :ok, :f :read, :value 3, :process 1, :time 4000000}
{:type :invoke, :f :cas, :value [3 4], :process 0, :time 5000000}
{:type :info, :f :cas, :value [3 4], :process 0, :time 6000000}
{:type :invoke, :f :write, :value 9, :process 2, :time 7000000}
{:type :fail, :f :write, :value 9, :process 2, :time 8000000}
{:type :info, :f :kill, :value nil, :process :nemesis, :time 8500000}
{:type :invoke, :f :read, :value nil, :process 1, :time 9000000} ; never completes
`;

describe('the EDN history reader', () => {
  test('reads a Jepsen register history: :ok, :info (indeterminate), :fail (dropped), nemesis skipped', () => {
    const history = parseEdnHistory(REGISTER_EDN, registerCodec);
    expect(history).toEqual([
      { id: 0, clientId: '0', input: { type: 'write', value: 3 }, callMs: 1, returnMs: 3, output: { ok: true } },
      { id: 1, clientId: '1', input: { type: 'read' }, callMs: 2, returnMs: 4, output: { ok: true, value: 3 } },
      { id: 4, clientId: '0', input: { type: 'cas', expected: 3, value: 4 }, callMs: 5, returnMs: null, output: undefined },
      { id: 8, clientId: '1', input: { type: 'read' }, callMs: 9, returnMs: null, output: undefined },
    ]);
    expect(checkHistory(registerCodec.model, history).verdict).toBe('linearizable');
  });

  test('reads the independent [key value] form for the kv model, and a vector of events', () => {
    const text = `[{:type :invoke :f :write :value [1 5] :process 0}
      {:type :ok :f :write :value [1 5] :process 0}
      {:type :invoke :f :read :value [1 nil] :process 1}
      {:type :ok :f :read :value [1 nil] :process 1}
      {:type :invoke :f :cas :value ["k" [nil 2]] :process 1}
      {:type :ok :f :cas :value ["k" [nil 2]] :process 1}]`;
    const history = parseEdnHistory(text, kvCodec);
    expect(history.map((op) => op.input)).toEqual([
      { type: 'write', key: '1', value: 5 },
      { type: 'read', key: '1' },
      { type: 'cas', key: 'k', expected: null, value: 2 },
    ]);
    expect(history[1]!.output).toEqual({ ok: false, error: 'not-found' });
    expect(checkHistory(kvCodec.model, history).verdict).toBe('not-linearizable');
  });

  test('reads queue histories', () => {
    const text = `{:type :invoke :f :enqueue :value 1 :process 0} {:type :ok :f :enqueue :value 1 :process 0}
      {:type :invoke :f :dequeue :value nil :process 1} {:type :ok :f :dequeue :value nil :process 1}`;
    expect(checkHistory(queueCodec.model, parseEdnHistory(text, queueCodec)).verdict).toBe('not-linearizable');
  });

  test.each([
    ['{:a 1.5}', /line 1, column 5: only integers are supported, got '1.5'/],
    ['{:a #{1}}', /line 1, column 5: sets, tags and discards/],
    ['\n  (1 2)', /line 2, column 3: lists are not supported/],
    ['{:a foo}', /symbols are not supported, got 'foo'/],
    ['{:a 1', /unclosed '\{' opened at line 1, column 1/],
    ['{:a 1]', /'\]' does not close the '\{'/],
    ['{:a}', /even number of forms/],
    ['"abc', /unterminated string/],
    ['"\\u0041"', /unsupported escape/],
    ['99999999999999999999', /out of the safe range/],
    ['['.repeat(40), /nested deeper than 32/],
  ])('refuses %j with line and column', (text, message) => {
    expect(() => readEdn(text, 100)).toThrow(message);
  });

  test.each([
    ['{:type :ok :f :read :value 1 :process 0}', /event 1 .*no invocation open/],
    ['{:type :invoke :f :read :process 0} {:type :invoke :f :read :process 0}', /invokes again before/],
    ['{:type :invoke :f :read :process 0} {:type :ok :f :write :process 0}', /completes :read .* with :f :write/],
    ['{:type :invoke :f :read :process "p"}', /:process must be a non-negative integer/],
    ['{:type :begin :f :read :process 0}', /:type must be :invoke, :ok, :fail or :info/],
    ['{:type :invoke :f :incr :value 1 :process 0}', /the register model knows :read, :write and :cas, got :incr/],
    ['{:type :invoke :f :cas :value 1 :process 0}', /expected \[old new\]/],
    ['{:type :invoke :f :read :process 0 :time 5} {:type :ok :f :read :process 0}', /no :time, but other events have one/],
    ['{:type :invoke :f :read :process 0 :time 5} {:type :ok :f :read :process 0 :time 4}', /:time goes backwards/],
    ['1', /expected a map/],
  ])('refuses the history %j, naming the event', (text, message) => {
    expect(() => parseEdnHistory(text, registerCodec)).toThrow(message);
  });
});

describe('the JSON history reader', () => {
  const valid = JSON.stringify([
    { id: 0, clientId: 'a', input: { type: 'write', value: 1 }, callMs: 0, returnMs: 1, output: { ok: true } },
    { id: 1, clientId: 2, input: { type: 'cas', expected: 1, value: 2 }, callMs: 2, returnMs: 3, output: { ok: false } },
    { id: 2, clientId: 'b', input: { type: 'read' }, callMs: 2, returnMs: null },
  ]);

  test('reads operations, partial outputs and indeterminate ops', () => {
    const history = parseJsonHistory(valid, registerCodec);
    expect(history[1]).toEqual({ id: 1, clientId: '2', input: { type: 'cas', expected: 1, value: 2 }, callMs: 2, returnMs: 3, output: { ok: false } });
    expect(history[2]!.output).toBeUndefined();
    expect(checkHistory(registerCodec.model, history).verdict).toBe('not-linearizable');
  });

  test.each([
    ['{', /^JSON: /],
    ['{}', /expected an array of operations/],
    ['[{"id":0,"clientId":"a","input":{"type":"read"},"callMs":0,"returnMs":1,"outptu":{}}]', /operation 0 .*unexpected field 'outptu'/],
    ['[{"id":0,"clientId":"a","input":{"type":"nop"},"callMs":0,"returnMs":1}]', /input.type: expected 'read', 'write' or 'cas'/],
    ['[{"id":0,"clientId":"a","input":{"type":"write","value":1.5},"callMs":0,"returnMs":1}]', /input.value: a register value is an integer/],
    ['[{"id":0,"clientId":"a","input":{"type":"read"},"callMs":0,"returnMs":null,"output":{"ok":true}}]', /indeterminate op .*cannot have an output/],
    ['[{"id":0,"clientId":"a","input":{"type":"read"},"callMs":3,"returnMs":1}]', /returnMs \(1\) is before callMs \(3\)/],
    ['[{"id":0,"clientId":"a","input":{"type":"read"},"callMs":0,"returnMs":1},{"id":0,"clientId":"a","input":{"type":"read"},"callMs":0,"returnMs":1}]', /duplicate id/],
  ])('refuses %j with a clear error', (text, message) => {
    expect(() => parseJsonHistory(text, registerCodec)).toThrow(message);
  });

  test('kv outputs are checked field by field', () => {
    const op = (output: unknown): string => JSON.stringify([{ id: 0, clientId: 'a', input: { type: 'cas', key: 'k', expected: 'x', value: 'y' }, callMs: 0, returnMs: 1, output }]);
    expect(parseJsonHistory(op({ ok: false }), kvCodec)[0]!.output).toEqual({ ok: false });
    expect(() => parseJsonHistory(op({ ok: false, error: 'oops' }), kvCodec)).toThrow(/output.error: expected 'not-found' or 'precondition-failed'/);
    expect(() => parseJsonHistory(op({ ok: 1 }), kvCodec)).toThrow(/boolean 'ok'/);
  });
});

/** Either a history, or a HistoryError: anything else thrown (a TypeError, a RangeError) fails the property. */
function parsesOrRefusesCleanly(parse: () => unknown): void {
  try {
    parse();
  } catch (error) {
    if (!(error instanceof HistoryError)) throw error;
    expect(error.message.length).toBeGreaterThan(0);
  }
}

/** A valid file with a few characters replaced, inserted or deleted. */
const mutatedArb = (text: string): fc.Arbitrary<string> =>
  fc.array(fc.record({ at: fc.nat(text.length), cut: fc.nat(3), insert: fc.string({ maxLength: 3, unit: fc.constantFrom('[', ']', '{', '}', ':', '"', '\\', ' ', '#', '1', '.', 'nil', 'x', '-', ';', '\n', ',') }) }), { maxLength: 4 }).map((edits) =>
    edits.reduce((current, { at, cut, insert }) => current.slice(0, at) + insert + current.slice(at + cut), text),
  );

describe('fuzzing the history readers', () => {
  const both = <I, O>(codec: HistoryCodec<I, O>): ((text: string) => unknown)[] => [(text) => parseEdnHistory(text, codec), (text) => parseJsonHistory(text, codec)];
  const parsers = [...both(registerCodec), ...both(kvCodec), ...both(queueCodec)];
  test('random text gives a result or a clean error, never a crash', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: 'binary' }), (text) => {
        for (const parse of parsers) parsesOrRefusesCleanly(() => parse(text));
      }),
      { numRuns: 2000 },
    );
  });

  test('random bytes decoded as UTF-8 give a result or a clean error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = new TextDecoder().decode(bytes);
        parsesOrRefusesCleanly(() => parseEdnHistory(text, registerCodec));
        parsesOrRefusesCleanly(() => parseJsonHistory(text, kvCodec));
      }),
      { numRuns: 1000 },
    );
  });

  test('mutated valid files give a result or a clean error, and what parses can be checked', () => {
    fc.assert(
      fc.property(mutatedArb(REGISTER_EDN), mutatedArb(valid()), (edn, json) => {
        for (const [text, parse] of [[edn, parseEdnHistory], [json, parseJsonHistory]] as const) {
          try {
            const history = parse(text, registerCodec);
            expect(['linearizable', 'not-linearizable']).toContain(checkHistory(registerCodec.model, history).verdict);
          } catch (error) {
            if (!(error instanceof HistoryError)) throw error;
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

function valid(): string {
  return JSON.stringify([
    { id: 0, clientId: 'a', input: { type: 'write', value: 1 }, callMs: 0, returnMs: 1, output: { ok: true } },
    { id: 1, clientId: 'b', input: { type: 'cas', expected: 1, value: 2 }, callMs: 2, returnMs: 3, output: { ok: false } },
    { id: 2, clientId: 'b', input: { type: 'read' }, callMs: 2, returnMs: null },
  ]);
}
