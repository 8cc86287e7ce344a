/**
 * The demo page in real Chromium, for the scenario tests and the benchmark:
 * one build of the page and worker bundle per process, a static server on
 * 127.0.0.1, and helpers that reach the page's `window.vsrDemo` hook.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { KvOperation, KvResult } from '@vsr/kv';
import type { HistoryOperation } from '@vsr/simulator';
import { buildDemo } from '../../scripts/build-demo.js';
import { startStaticServer, type StaticServer } from '../../scripts/serve.js';
import type { ReplicaRow } from '../../src/demo/demo-cluster.js';
import type { LoadOptions, LoadResult } from '../../src/demo/load.js';
import type { DemoHook } from '../../src/demo/main.js';

let built: Promise<string> | null = null;

/**
 * Builds the page once per process, into a folder of its own (so that test
 * files and a running demo never write the same files at once), and serves it.
 */
export async function serveDemo(): Promise<StaticServer> {
  built ??= buildDemo(mkdtempSync(join(tmpdir(), 'vsr-demo-build-')));
  return startStaticServer({ rootDir: await built });
}

type HookWindow = Window & { vsrDemo: DemoHook };

/** Opens the page at `query` and waits until its cluster runs; fails with the page's own error if it does not start. */
export async function openDemo(page: Page, server: StaticServer, query = ''): Promise<void> {
  page.on('pageerror', (error) => console.error(`[page error] ${error.message}`));
  await page.goto(`${server.url}${query}`);
  await page.waitForFunction(() => (window as unknown as HookWindow).vsrDemo !== undefined);
  const error = await page.evaluate(() =>
    (window as unknown as HookWindow).vsrDemo.ready.then(
      () => null,
      (failure: unknown) => String(failure),
    ),
  );
  if (error !== null) throw new Error(`the demo did not start: ${error}`);
}

export function request(page: Page, operation: KvOperation): Promise<KvResult> {
  return page.evaluate((op) => (window as unknown as HookWindow).vsrDemo.cluster!.request(op), operation);
}

export function rows(page: Page): Promise<ReplicaRow[]> {
  return page.evaluate(() => (window as unknown as HookWindow).vsrDemo.cluster!.rows());
}

export function history(page: Page): Promise<HistoryOperation[]> {
  return page.evaluate(() => (window as unknown as HookWindow).vsrDemo.cluster!.history());
}

export function runLoad(page: Page, options: LoadOptions): Promise<LoadResult> {
  return page.evaluate((load) => (window as unknown as HookWindow).vsrDemo.runLoad(load), options);
}

export function boots(page: Page): Promise<Array<{ replicaId: number; boot: string; damage: string | null }>> {
  return page.evaluate(() => [...(window as unknown as HookWindow).vsrDemo.cluster!.boots()]);
}

export function refusals(page: Page): Promise<Array<{ replicaId: number; reason: string; detail: string }>> {
  return page.evaluate(() => [...(window as unknown as HookWindow).vsrDemo.cluster!.refusals()]);
}

/** Runs one of the cluster's fault actions in the page. */
export function fault(page: Page, action: 'crash' | 'restart' | 'wipe' | 'partition' | 'heal', replicaId: number): Promise<void> {
  return page.evaluate(
    ([name, id]) => {
      const cluster = (window as unknown as HookWindow).vsrDemo.cluster!;
      if (name === 'partition' || name === 'heal') return cluster.partition(id, name === 'partition');
      return cluster[name](id);
    },
    [action, replicaId] as const,
  );
}

/** Polls `check` on the page's rows until it holds (or the time is up: then the last rows are in the error). */
export async function waitForRows(page: Page, what: string, check: (rows: ReplicaRow[]) => boolean, timeoutMs = 15_000): Promise<ReplicaRow[]> {
  const deadline = Date.now() + timeoutMs;
  let last: ReplicaRow[] = [];
  while (Date.now() < deadline) {
    last = await rows(page);
    if (check(last)) return last;
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms; rows: ${JSON.stringify(last)}`);
}

/** The replica every normal replica names as primary, once they agree. */
export function primaryOf(current: ReplicaRow[]): number | null {
  const primaries = current.filter((row) => row.primary);
  return primaries.length === 1 ? primaries[0]!.replicaId : null;
}
