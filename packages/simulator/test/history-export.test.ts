/**
 * The simulator's history exports (`--history-edn`, `--history-json`) read back through the
 * checker's readers as the history the simulator recorded, check as linearizable, and pass
 * `lincheck` with exit 0; the same file with one read corrupted exits 1.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { main as simMain } from '../src/cli.js';
import { main as lincheckMain } from '../src/check/lincheck-cli.js';
import { fromSimulatorHistory } from '../src/check/from-simulator.js';
import { parseEdnHistory } from '../src/check/history-edn.js';
import { parseJsonHistory } from '../src/check/history-json.js';
import { formatEdn, kvToJepsen, writeEdnHistory, writeJsonHistory } from '../src/check/history-write.js';
import type { KvOperation } from '@vsr/kv';
import type { ModelOperation } from '../src/model.js';
import { kvCodec, kvModel, type KvOutput } from '../src/check/kv-model.js';
import { checkHistory } from '../src/check/search.js';
import { simulate } from '../src/simulation.js';

const dir = mkdtempSync(join(tmpdir(), 'history-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SEED = ['--seed', '5', '--requests', '200', '--faults', 'crash,network', '--quiet'];
const ednFile = join(dir, 'seed5.edn');
const jsonFile = join(dir, 'seed5.json');

function lincheck(...argv: string[]): number {
  return lincheckMain(argv, { out: () => undefined, err: () => undefined });
}

describe('history export', () => {
  test('--history-edn and --history-json write the seed --history picks, and the readers get it back', () => {
    expect(simMain([...SEED, '--history-edn', ednFile, '--history-json', jsonFile])).toBe(0);
    const recorded = fromSimulatorHistory(simulate({ seed: 5, replicaCount: 3, clientCount: 4, requests: 200, faults: ['crash', 'network'], trace: true }).history);
    expect(recorded.length).toBeGreaterThan(150);
    expect(parseJsonHistory(readFileSync(jsonFile, 'utf8'), kvCodec)).toEqual(recorded);
    const fromEdn = parseEdnHistory(readFileSync(ednFile, 'utf8'), kvCodec);
    // EDN keeps what Jepsen records: failed cas ops are dropped (:fail), outputs are partial.
    const failedCas = recorded.filter((op) => op.input.type === 'cas' && op.output?.ok === false).length;
    expect(fromEdn).toHaveLength(recorded.length - failedCas);
    expect(fromEdn.map((op) => op.input)).toEqual(recorded.filter((op) => !(op.input.type === 'cas' && op.output?.ok === false)).map((op) => op.input));
    expect(fromEdn.filter((op) => op.returnMs === null)).toHaveLength(recorded.filter((op) => op.returnMs === null).length);
    for (const history of [fromEdn, recorded]) expect(checkHistory(kvModel, history).verdict).toBe('linearizable');
  });

  test('lincheck passes both files, and fails them once a read is corrupted', () => {
    expect(lincheck(ednFile, '--model', 'kv')).toBe(0);
    expect(lincheck(jsonFile, '--model', 'kv')).toBe(0);
    const history = parseJsonHistory(readFileSync(jsonFile, 'utf8'), kvCodec);
    const read = history.find((op) => op.input.type === 'read' && op.output?.ok === true);
    expect(read).toBeDefined();
    const corrupted = history.map((op) => (op === read ? { ...op, output: { ok: true, value: 'never-written' } } : op));
    writeFileSync(join(dir, 'bad.json'), writeJsonHistory(corrupted));
    writeFileSync(join(dir, 'bad.edn'), writeEdnHistory(corrupted, kvToJepsen));
    expect(lincheck(join(dir, 'bad.json'), '--model', 'kv')).toBe(1);
    expect(lincheck(join(dir, 'bad.edn'), '--model', 'kv')).toBe(1);
  });

  test('the lincheck command itself exits 0 on the export and 1 on the corrupted copy', () => {
    const root = join(import.meta.dirname, '..', '..', '..');
    const command = (file: string): number => {
      try {
        execFileSync(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'packages/simulator/src/lincheck.ts'), file, '--model', 'kv'], { stdio: 'pipe' });
        return 0;
      } catch (error) {
        return (error as { status: number }).status;
      }
    };
    expect(command(ednFile)).toBe(0);
    expect(command(join(dir, 'bad.edn'))).toBe(1);
  });

  test('EDN strings are escaped as the reader unescapes them', () => {
    const text = formatEdn(['a"b\\c\nd\te\rf', 12, null, true, { kind: 'keyword', name: 'ok' }]);
    expect(text).toBe('["a\\"b\\\\c\\nd\\te\\rf" 12 nil true :ok]');
    const history = [{ id: 0, clientId: 'c', input: { type: 'write' as const, key: 'k"\n', value: 'v\\' }, callMs: 0, returnMs: 1, output: { ok: true } }];
    expect(parseEdnHistory(writeEdnHistory(history, kvToJepsen), kvCodec)).toEqual([{ ...history[0], clientId: '0' }]);
  });

  test('an indeterminate op stays indeterminate, and its client goes on as a fresh process', () => {
    const history: ModelOperation<KvOperation, KvOutput>[] = [
      { id: 0, clientId: 'a', input: { type: 'write', key: 'k', value: 1 }, callMs: 0, returnMs: null, output: undefined },
      { id: 1, clientId: 'a', input: { type: 'read', key: 'k' }, callMs: 5, returnMs: 6, output: { ok: true, value: 1 } },
      { id: 2, clientId: 'b', input: { type: 'read', key: 'k' }, callMs: 7, returnMs: 8, output: { ok: false, error: 'not-found' } },
    ];
    expect(parseJsonHistory(writeJsonHistory(history), kvCodec)).toEqual(history);
    const fromEdn = parseEdnHistory(writeEdnHistory(history, kvToJepsen), kvCodec);
    expect(fromEdn.map((op) => [op.clientId, op.returnMs, op.output])).toEqual([
      ['0', null, undefined],
      ['1', 6, { ok: true, value: 1 }],
      ['2', 8, { ok: false, error: 'not-found' }],
    ]);
    // b read nothing after a read the indeterminate write's value: the write did happen.
    expect(checkHistory(kvModel, fromEdn).verdict).toBe('not-linearizable');
  });
});
