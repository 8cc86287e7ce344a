/**
 * `npm run bench:browser`: the browser interpreter's throughput and latency
 * in headless Chromium. The demo page's cluster (three replicas in three
 * workers, each on its own IndexedDB database, every flush a `durability:
 * 'strict'` transaction) under 1 and 16 concurrent clients writing, and the
 * latency of one small strict IndexedDB transaction by itself, which bounds
 * how fast a replica can acknowledge anything.
 *
 * It prints numbers and asserts nothing. Run it on an otherwise idle machine.
 *
 *   --seconds N   measure each client count for N s (default 8), after a 2 s warm-up
 *   --json        one JSON object instead of the table
 */
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { buildDemo } from '../scripts/build-demo.js';
import { startStaticServer, type StaticServer } from '../scripts/serve.js';
import { openDemo, primaryOf, runLoad, waitForRows } from '../test/chromium/page.js';
import { launchChromium } from '../test/chromium/support.js';

const CLIENT_COUNTS = [1, 16] as const;
const IDB_TRANSACTIONS = 400;

/** The p-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface Row {
  readonly what: string;
  readonly perSecond: number | null;
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

async function measureCluster(browser: Browser, server: StaticServer, clients: number, seconds: number, trace: boolean): Promise<Row> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    // ?trace=0: the workers post no trace events, so the page's main thread (where the clients run) draws no live diagram.
    await openDemo(page, server, `?trace=${trace ? 1 : 0}`);
    await waitForRows(page, 'a primary', (now) => now.every((row) => row.status === 'normal') && primaryOf(now) !== null);
    await runLoad(page, { clients, durationMs: 2_000 }); // warm-up: JIT, IndexedDB files, client registrations
    const load = await runLoad(page, { clients, durationMs: seconds * 1_000 });
    if (load.failures.length > 0) console.error(`${clients} clients: ${load.failures.length} requests failed, e.g. ${load.failures[0]}`);
    return {
      what: `committed writes, ${clients} client${clients === 1 ? '' : 's'}${trace ? ', live diagram' : ''}`,
      perSecond: (load.writesAnswered / load.elapsedMs) * 1_000,
      count: load.writesAnswered,
      p50Ms: percentile(load.writeLatenciesMs, 50),
      p99Ms: percentile(load.writeLatenciesMs, 99),
    };
  } finally {
    await context.close();
  }
}

/** In the page: one small record per readwrite transaction with durability 'strict', one after the other; each one's latency. */
async function strictTransactions(count: number): Promise<number[]> {
  const database = await new Promise<IDBDatabase>((resolve, reject) => {
    const open = indexedDB.open('vsr-bench-idb', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('records');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error ?? new Error('could not open the benchmark database'));
  });
  const record = { checksum: 123456789, json: JSON.stringify({ opNumber: 1, viewNumber: 0, operation: { type: 'write', key: 'k', value: 'x'.repeat(64) } }) };
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const startMs = performance.now();
    const transaction = database.transaction('records', 'readwrite', { durability: 'strict' });
    transaction.objectStore('records').put(record, i % 16);
    await new Promise<void>((resolve, reject) => {
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error ?? new Error('the transaction failed'));
    });
    latencies.push(performance.now() - startMs);
  }
  database.close();
  return latencies;
}

async function measureIndexedDb(browser: Browser, url: string): Promise<Row> {
  const context = await browser.newContext();
  try {
    const page: Page = await context.newPage();
    await page.goto(url); // any page of the origin: IndexedDB needs one
    await page.evaluate(strictTransactions, 50); // warm-up
    const latencies = await page.evaluate(strictTransactions, IDB_TRANSACTIONS);
    return { what: 'IndexedDB strict commit (1 small record)', perSecond: null, count: latencies.length, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
  } finally {
    await context.close();
  }
}

function printTable(rows: readonly Row[], browserVersion: string): void {
  console.log(`headless Chromium ${browserVersion}, ${cpus().length} cores; three replicas in three workers, strict IndexedDB durability`);
  console.log(`${'measure'.padEnd(44)} ${'per s'.padStart(8)} ${'count'.padStart(7)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
  for (const row of rows) {
    const perSecond = row.perSecond === null ? '' : row.perSecond.toFixed(0);
    console.log(`${row.what.padEnd(44)} ${perSecond.padStart(8)} ${String(row.count).padStart(7)} ${row.p50Ms.toFixed(2).padStart(8)} ${row.p99Ms.toFixed(2).padStart(8)}`);
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const secondsAt = args.indexOf('--seconds');
  const seconds = secondsAt < 0 ? 8 : Number(args[secondsAt + 1]);
  if (!(seconds > 0)) throw new Error(`--seconds: expected a positive number, got ${args[secondsAt + 1]}`);
  const server = await startStaticServer({ rootDir: await buildDemo(mkdtempSync(join(tmpdir(), 'vsr-bench-build-'))) });
  const browser = await launchChromium();
  try {
    const rows: Row[] = [];
    for (const clients of CLIENT_COUNTS) rows.push(await measureCluster(browser, server, clients, seconds, false));
    // The same with the demo's live diagram drawn, as a person sees the page.
    for (const clients of CLIENT_COUNTS) rows.push(await measureCluster(browser, server, clients, seconds, true));
    rows.push(await measureIndexedDb(browser, server.url));
    if (args.includes('--json')) console.log(JSON.stringify({ chromium: browser.version(), cores: cpus().length, seconds, rows }));
    else printTable(rows, browser.version());
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
