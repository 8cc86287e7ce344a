/**
 * Group-commit throughput of the LMDB store and of the default journal store (FileStorage
 * through `openFileStore`), A/B in one run: flushes of 1, 16 and 256 appends of about
 * 100-byte requests, one flush at a time as group commit runs them, each awaited until durable.
 * Every 1,024 ops a checkpoint is persisted and the log released to the one before, as the
 * core does, so the log stays bounded. Prints flushes/s, effects/s and flush latency.
 *
 *   tsx packages/storage-lmdb/bench/group-commit.bench.ts [--seconds 2] [--batches 1,16,256]
 *
 * The data directories go under the system's temporary directory (the disk the numbers are
 * about) and are removed afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Effect, LogEntry } from '@vsr/core';
import type { ReplicaStore } from '@vsr/runtime';
import { openFileStore } from '@vsr/node';
import { openLmdbStore } from '../src/index.js';

const CHECKPOINT_INTERVAL_OPS = 1024;

interface Row {
  readonly store: string;
  readonly batch: number;
  readonly flushes: number;
  /** Effects flushed: the appends, and the checkpoints and releases among them. */
  readonly effects: number;
  readonly seconds: number;
  readonly latenciesMs: number[];
}

const STORES: ReadonlyArray<readonly [string, (directory: string) => ReplicaStore]> = [
  ['LMDB', (directory) => openLmdbStore(directory, { create: true })],
  ['FileStorage', (directory) => openFileStore(directory, { create: true })],
];

function entryAt(opNumber: number): LogEntry {
  return { opNumber, viewNumber: 0, timestampMs: opNumber, requests: [{ clientId: 'bench', requestNumber: opNumber, operation: { type: 'write', key: `k${opNumber % 1000}`, value: 'v'.repeat(4) } }] };
}

/** The effects of one flush: `batch` appends after `last`, with a checkpoint and a release each time the log crosses an interval. */
function batchAfter(last: number, batch: number): Effect[] {
  const effects: Effect[] = [];
  for (let opNumber = last + 1; opNumber <= last + batch; opNumber++) {
    effects.push({ kind: 'log-append', entry: entryAt(opNumber) });
    if (opNumber % CHECKPOINT_INTERVAL_OPS === 0) {
      effects.push({ kind: 'persist-checkpoint', checkpoint: { opNumber, viewNumber: 0, timestampMs: opNumber, snapshot: [['key', opNumber]], clientTable: [] } });
      if (opNumber > CHECKPOINT_INTERVAL_OPS) effects.push({ kind: 'log-release', opNumber: opNumber - CHECKPOINT_INTERVAL_OPS });
    }
  }
  return effects;
}

async function measure(name: string, open: (directory: string) => ReplicaStore, batch: number, seconds: number): Promise<Row> {
  const directory = mkdtempSync(join(tmpdir(), 'vsr-bench-store-'));
  const store = open(directory);
  try {
    store.apply({ kind: 'persist-header', header: { viewNumber: 0, lastNormalView: 0 } });
    await store.flush();
    const latenciesMs: number[] = [];
    const startedMs = performance.now();
    let last = 0;
    let effects = 0;
    while (performance.now() - startedMs < seconds * 1000) {
      const batchEffects = batchAfter(last, batch);
      for (const effect of batchEffects) store.apply(effect);
      effects += batchEffects.length;
      last += batch;
      const flushStartedMs = performance.now();
      await store.flush();
      latenciesMs.push(performance.now() - flushStartedMs);
    }
    await store.settle();
    return { store: name, batch, flushes: latenciesMs.length, effects, seconds: (performance.now() - startedMs) / 1000, latenciesMs };
  } finally {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0;
}

function table(rows: readonly Row[]): string {
  const header = ['store', 'appends/flush', 'flushes/s', 'effects/s', 'p50 ms', 'p99 ms'];
  const lines = rows.map((row) => {
    const sorted = [...row.latenciesMs].sort((a, b) => a - b);
    return [row.store, String(row.batch), (row.flushes / row.seconds).toFixed(0), (row.effects / row.seconds).toFixed(0), percentile(sorted, 0.5).toFixed(2), percentile(sorted, 0.99).toFixed(2)];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => (line[column] ?? '').length)));
  const render = (cells: readonly string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  return [render(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...lines.map(render)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' }, batches: { type: 'string', default: '1,16,256' } } });
  const seconds = Number(values.seconds);
  const batches = values.batches.split(',').map(Number);
  if (!(seconds > 0) || batches.some((batch) => !Number.isSafeInteger(batch) || batch < 1)) throw new Error('--seconds must be positive and --batches a list of positive integers');
  const requestBytes = Buffer.byteLength(JSON.stringify(entryAt(123_456).requests[0]));
  console.log(`group commit, ${seconds} s a row, requests of ${requestBytes} bytes as JSON, ${cpus().length} cores, ${new Date().toISOString()}, node ${process.version}, data in ${tmpdir()}`);
  const rows: Row[] = [];
  for (const batch of batches) for (const [name, open] of STORES) rows.push(await measure(name, open, batch, seconds));
  console.log(table(rows));
}

await main();
