import { afterAll, describe, expect, test } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/check/lincheck-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'lincheck-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function run(...argv: string[]): { status: number; out: string; err: string } {
  const out: string[] = [];
  const err: string[] = [];
  const status = main(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { status, out: out.join('\n'), err: err.join('\n') };
}

const GOOD = `{:type :invoke :f :write :value 1 :process 0}
{:type :ok :f :write :value 1 :process 0}
{:type :invoke :f :read :value nil :process 1}
{:type :ok :f :read :value 1 :process 1}`;
const BAD = `${GOOD}
{:type :invoke :f :read :value nil :process 2}
{:type :ok :f :read :value nil :process 2}`;

describe('lincheck', () => {
  test('exit 0 and the verdict, op and part counts and time for a linearizable history', () => {
    const { status, out } = run(file('good.edn', GOOD));
    expect(status).toBe(0);
    expect(out).toMatch(/^verdict: linearizable\nops: 2, parts: 1 \(1 checked\), search steps: \d+, time: [\d.]+ ms$/);
  });

  test('exit 1 for a violation, naming the prefix and the op that cannot follow it; --html draws it', () => {
    const html = join(dir, 'bad.html');
    const { status, out } = run(file('bad.edn', BAD), '--html', html);
    expect(status).toBe(1);
    expect(out).toContain('verdict: not linearizable');
    expect(out).toContain('could not follow it:\n  #4 read returned null');
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<svg');
    expect(page.match(/class="lane"/g)).toHaveLength(3);
    expect(page).toMatch(/<g class="op prefix" data-id="0"><title>#0 write 1 returned ok<\/title>/);
    expect(page).toMatch(/<g class="op blocked" data-id="4"><title>#4 read returned null<\/title>/);
    expect(page).toContain('<li class="blocked">#4 read returned null</li>');
    expect(page).not.toMatch(/<script|src=|href=/);
  });

  test('exit 3 when the budget runs out', () => {
    const { status, out } = run(file('budget.edn', BAD), '--steps-max', '1');
    expect(status).toBe(3);
    expect(out).toContain('verdict: unknown\n');
    expect(out).toContain('reason: the search-step budget (1) ran out');
  });

  test('JSON histories and the kv and queue models', () => {
    const kv = JSON.stringify([
      { id: 0, clientId: 'a', input: { type: 'write', key: 'x', value: 1 }, callMs: 0, returnMs: 1, output: { ok: true } },
      { id: 1, clientId: 'b', input: { type: 'write', key: 'y', value: 1 }, callMs: 0, returnMs: 1, output: { ok: true } },
      { id: 2, clientId: 'b', input: { type: 'cas', key: 'x', expected: 1, value: 2 }, callMs: 2, returnMs: 3, output: { ok: false } },
    ]);
    const kvRun = run(file('kv.json', kv), '--model', 'kv');
    expect(kvRun.status).toBe(1);
    expect(kvRun.out).toContain('ops: 3, parts: 2');
    const queue = JSON.stringify([{ id: 0, clientId: 'a', input: { type: 'dequeue' }, callMs: 0, returnMs: 1, output: { value: null } }]);
    expect(run(file('queue.txt', queue), '--model', 'queue', '--format', 'json').status).toBe(0);
  });

  test.each([
    [[], /a history FILE is required/],
    [['a.edn', 'b.edn'], /one history FILE, got 2/],
    [['x.edn', '--model', 'stack'], /--model: expected one of register, kv, queue, got 'stack'/],
    [['x.txt'], /cannot tell the format/],
    [['x.edn', '--format', 'xml'], /--format: expected edn or json/],
    [['x.edn', '--steps-max', '1e3'], /--steps-max: expected an integer, got '1e3'/],
    [['x.edn', '--timeout-ms=-1'], /--timeout-ms: must be at least 0/],
    [['x.edn', '--colour'], /Unknown option '--colour'/],
  ])('exit 2 with the usage for %j', (argv, message) => {
    const { status, err } = run(...argv);
    expect(status).toBe(2);
    expect(err).toMatch(message);
    expect(err).toContain('usage: npm run lincheck');
  });

  test('exit 2 naming the file and the problem for unreadable or bad input', () => {
    const missing = run(join(dir, 'missing.edn'));
    expect(missing.status).toBe(2);
    expect(missing.err).toMatch(/missing\.edn: cannot read the file/);
    const bad = run(file('broken.edn', '{:type :invoke :f :read :value 1.5 :process 0}'));
    expect(bad.status).toBe(2);
    expect(bad.err).toMatch(/broken\.edn: EDN line 1, column 32: only integers are supported/);
  });
});
