/**
 * The IndexedDB store's two fast-check properties (test/support/storage-properties.ts) on the
 * real thing: bundled into a page of a real origin in Chromium and run against its own
 * IndexedDB, each run on a database of its own. The same properties run on fake-indexeddb in
 * Node (storage.test.ts); this is where a difference between the two would show.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startStaticServer, type StaticServer } from '../../scripts/serve.js';
import type { PropertyOutcome } from '../support/storage-properties.js';
import { launchChromium } from './support.js';

const RUNS = 25;
type PropertyWindow = Window & { checkStorageProperties: (numRuns: number, seed?: number) => Promise<PropertyOutcome[]> };

/** The properties and their dependencies (the store, the core, fast-check) as one page script. */
async function bundle(): Promise<string> {
  const entry = `
    import { checkStorageProperties } from './storage-properties.ts';
    let runs = 0;
    window.checkStorageProperties = (numRuns, seed) =>
      checkStorageProperties(() => ({ indexedDB, namePrefix: 'property-' + runs++ }), { numRuns, seed });
  `;
  const resolveDir = fileURLToPath(new URL('../support/', import.meta.url));
  const result = await build({ stdin: { contents: entry, resolveDir, loader: 'ts' }, bundle: true, platform: 'browser', format: 'iife', write: false, logLevel: 'silent' });
  return result.outputFiles[0]?.text ?? '';
}

describe('the IndexedDB store in Chromium', () => {
  let browser: Browser;
  let server: StaticServer;
  let script: string;
  beforeAll(async () => {
    const root = mkdtempSync(join(tmpdir(), 'vsr-storage-page-'));
    writeFileSync(join(root, 'index.html'), '<!DOCTYPE html><title>storage properties</title>');
    server = await startStaticServer({ rootDir: root });
    script = await bundle();
    browser = await launchChromium();
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test(`both storage properties hold on Chromium's IndexedDB (${RUNS} runs each)`, async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(server.url); // a real origin: IndexedDB is per origin
    await page.addScriptTag({ content: script });
    const outcomes = await page.evaluate((runs) => (window as unknown as PropertyWindow).checkStorageProperties(runs), RUNS);
    for (const outcome of outcomes) expect(outcome.failed, `${outcome.name}\n${outcome.report ?? ''}`).toBe(false);
    expect(outcomes.map((outcome) => outcome.numRuns)).toEqual([RUNS, RUNS]);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});
