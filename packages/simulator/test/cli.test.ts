/**
 * `npm run sim` flags: defaults, every flag, and bad command lines, which
 * exit 2 with a message naming the flag and the usage text (`--help` exits 0).
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { cliMain, parseArgs, UsageError } from '../src/index.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs the CLI on a command line that must not get as far as simulating; returns its exit status and what it wrote to stderr. */
function runRefused(argv: string[]): { status: number; stderr: string } {
  const lines: string[] = [];
  vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void lines.push(parts.join(' ')));
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  const status = cliMain(argv);
  expect(log, 'a refused command line ran the simulation').not.toHaveBeenCalled();
  return { status, stderr: lines.join('\n') };
}

describe('the simulator CLI', () => {
  test('defaults', () => {
    expect(parseArgs([])).toEqual({
      seed: 1,
      seeds: 1,
      replicas: [3],
      clients: 4,
      requests: 1000,
      faults: ['swarm'],
      json: false,
      trace: null,
      history: null,
      historyEdn: null,
      historyJson: null,
      html: null,
      quiet: false,
      service: null,
      reads: 'log',
    });
  });

  test('every flag, a negative seed, and the last of a repeated flag', () => {
    const argv = ['--seed', '-5', '--seeds', '3', '--replicas', '3,5', '--clients', '2', '--requests', '0', '--faults', 'network,crash'];
    argv.push('--json', '--quiet', '--trace', 't.jsonl', '--history', 'h.json', '--history-edn', 'h.edn', '--history-json', 'c.json', '--html', 'r.html', '--service', 's.ts', '--reads', 'mixed', '--seeds', '4');
    expect(parseArgs(argv)).toEqual({
      seed: -5,
      seeds: 4,
      replicas: [3, 5],
      clients: 2,
      requests: 0,
      faults: ['network', 'crash'],
      json: true,
      trace: 't.jsonl',
      history: 'h.json',
      historyEdn: 'h.edn',
      historyJson: 'c.json',
      html: 'r.html',
      quiet: true,
      service: 's.ts',
      reads: 'mixed',
    });
    expect(parseArgs(['--seed=7']).seed).toBe(7);
  });

  test.each([
    [['--bogus'], "unknown flag '--bogus'"],
    [['seeds'], "unknown flag 'seeds'"],
    [['--json', 'extra'], "unknown flag 'extra'"],
    [['--json=1'], "unknown flag '--json=1'"],
    [['-x'], "unknown flag '-x'"],
    [['-hx'], "unknown flag '-hx'"],
    [['--'], "unknown flag '--'"],
    [['--toString'], "unknown flag '--toString'"],
    [['--reads', 'sometimes'], "--reads: expected log, direct or mixed, got 'sometimes'"],
    [['--seed'], '--seed: expected a value'],
    [['--seed', '--json'], '--seed: expected a value'],
    [['--seed', '1.5'], "--seed: expected an integer, got '1.5'"],
    [['--seed', '1e3'], "--seed: expected an integer, got '1e3'"],
    [['--seed', '2147483648'], '--seed: must be between -2147483648 and 2147483647, got 2147483648'],
    [['--seeds', '0'], '--seeds: must be between 1 and 1000000, got 0'],
    [['--replicas', '3,x'], "--replicas: expected an integer, got 'x'"],
    [['--replicas', '16'], '--replicas: must be between 1 and 15, got 16'],
    [['--clients', '0'], '--clients: must be between 1 and 1000, got 0'],
    [['--requests', '-1'], '--requests: must be between 0 and 10000000, got -1'],
    [['--faults', 'nope'], "--faults: unknown fault 'nope'"],
    // The first bad flag is the one reported.
    [['--seeds', '0', '--bogus'], '--seeds: must be between 1 and 1000000, got 0'],
  ])('%j is refused: exit 2, the reason and the usage', (argv, reason) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    const { status, stderr } = runRefused(argv);
    expect(status).toBe(2);
    expect(stderr).toContain(`vsr-sim: ${reason}`);
    expect(stderr).toContain('usage: npm run sim -- [flags]');
  });

  test.each([['--help'], ['-h']])('%s prints the usage and exits 0', (flag) => {
    const { status, stderr } = runRefused([flag]);
    expect(status).toBe(0);
    expect(stderr).toMatch(/^usage: npm run sim -- \[flags\]/);
    expect(stderr).not.toContain('vsr-sim:');
  });
});
