/**
 * The esbuild bundles: the core alone (minified, no Node built-in, and it
 * runs: imported in Node, its `step` boots a replica) and the worker entry;
 * a bundle that pulls in a `node:` module fails the build.
 */
import { expect, test } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildBrowser, bundleForBrowser } from '../scripts/build.js';

test('the core bundles alone for the browser, without node: imports, and its step runs', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'vsr-browser-build-'));
  try {
    const report = await buildBrowser(outDir);
    const core = readFileSync(report.coreFile, 'utf8');
    expect(core).not.toMatch(/["']node:/);
    expect(report.coreGzipBytes).toBeGreaterThan(1_000);
    expect(report.coreGzipBytes).toBeLessThan(report.coreBytes);
    const bundled = (await import(pathToFileURL(report.coreFile).href)) as typeof import('@vsr/core');
    const machine = { name: 'counter', operation: { decode: (u: unknown) => ({ _tag: 'Right', right: u }) }, init: () => 0, apply: (s: number) => [s + 1, s + 1], snapshot: (s: number) => s, restore: (s: unknown) => s as number };
    const [state, effects] = bundled.step(bundled.initialState({ replicaId: 0, replicaCount: 3 }, machine as never), { kind: 'boot', storage: null });
    expect(state.status).toBe('normal');
    expect(effects.map((effect) => effect.kind)).toContain('persist-header');
    const worker = readFileSync(report.workerFile, 'utf8');
    expect(report.workerFile).toBe(join(outDir, 'worker.js'));
    expect(worker).not.toMatch(/["']node:/);
    expect(worker).toContain('IndexedDB');
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});

test('a bundle that pulls in a node: module fails the build', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'vsr-browser-build-'));
  try {
    const entry = join(outDir, 'entry.ts');
    writeFileSync(entry, "import { readFileSync } from 'node:fs';\nexport const read = () => readFileSync('x');\n");
    await expect(bundleForBrowser({ file: entry }, join(outDir, 'entry.js'), true)).rejects.toThrow(/node:fs/);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});
