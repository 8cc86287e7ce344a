/**
 * `npm run sim -- --service FILE`: the user's own machine, workload and model from a module,
 * checked like the key-value service; a module that does not export one is refused with a
 * reason.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { mainWithService } from '../src/cli.js';

const BANK = fileURLToPath(new URL('./bank/bank.ts', import.meta.url));
const LEAKY_BANK = fileURLToPath(new URL('./bank/leaky-bank.ts', import.meta.url));

afterEach(() => {
  vi.restoreAllMocks();
});

function capture(): { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void err.push(parts.join(' ')));
  return { out, err };
}

describe('the simulator CLI with --service', () => {
  test("runs the user's service: the bank passes every seed, and its history is the bank's", async () => {
    const directory = mkdtempSync(join(tmpdir(), 'vsr-sim-service-'));
    const historyFile = join(directory, 'history.json');
    const reportFile = join(directory, 'report.html');
    const { out, err } = capture();
    const status = await mainWithService(['--service', BANK, '--seeds', '3', '--requests', '80', '--faults', 'crash,network', '--history-json', historyFile, '--html', reportFile]);
    expect(err).toEqual([]);
    expect(status).toBe(0);
    expect(out.join('\n')).toMatch(/3 replicas\s+3\s/);
    const history = JSON.parse(readFileSync(historyFile, 'utf8')) as Array<{ input: { type: string } }>;
    const types = new Set(history.map((operation) => operation.input.type));
    expect([...types].sort()).toEqual(['balance', 'transfer']);
    // The report draws the bank's operations as JSON (the key-value ones get their own labels).
    expect(readFileSync(reportFile, 'utf8')).toContain('class="op-label">{&quot;type&quot;:&quot;transfer&quot;');
  });

  test('a planted bug in the machine fails the run, and the replay command names the service', async () => {
    const { err } = capture();
    const status = await mainWithService(['--service', LEAKY_BANK, '--seeds', '2', '--requests', '80', '--faults', 'none', '--quiet']);
    expect(status).toBe(1);
    const text = err.join('\n');
    expect(text).toMatch(/linearizability: bank: /);
    expect(text).toContain(`--service ${LEAKY_BANK}`);
  });

  test('a module without a service, or with an incomplete one, is refused with the reason', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'vsr-sim-service-'));
    const empty = join(directory, 'empty.mjs');
    writeFileSync(empty, 'export const nothing = 1;\n');
    const partial = join(directory, 'partial.mjs');
    writeFileSync(partial, 'export const service = { machine: { name: "m" }, workload: { name: "w", next() { return null; } }, model: {} };\n');
    const { err } = capture();
    expect(await mainWithService(['--service', empty])).toBe(2);
    expect(err[0]).toBe(`vsr-sim: --service ${empty}: the module exports no \`service\` object ({ machine, workload, model })`);
    err.length = 0;
    expect(await mainWithService(['--service', partial])).toBe(2);
    expect(err[0]).toBe(`vsr-sim: --service ${partial}: service.machine lacks operation, init, apply, snapshot, restore`);
    err.length = 0;
    expect(await mainWithService(['--service', join(directory, 'missing.mjs')])).toBe(2);
    expect(err[0]).toMatch(/cannot import .*missing\.mjs/);
  });
});
