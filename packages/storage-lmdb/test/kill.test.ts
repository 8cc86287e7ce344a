/**
 * A real crash: a child process flushing to an LMDB store is killed with SIGKILL at a random
 * moment, several times. The reopened store holds a whole number of flushes (each flush's
 * entries and its header together, never part of one), and at least every flush the child
 * was told had resolved. (A killed process leaves the page cache behind, so this shows the
 * transaction's atomicity and the acknowledgement's order, not the sync to the device: LMDB
 * calls fdatasync in every commit with overlappingSync off.)
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import type { BootStorage } from '@vsr/core';
import { openLmdbStore } from '../src/index.js';
import { freshDirectory, removeDirectories } from './support/raw.js';

afterEach(removeDirectories);

const ENTRIES_A_FLUSH = 8;
const WRITER = fileURLToPath(new URL('./support/crash-writer.ts', import.meta.url));

/** Starts the writer, kills it `killAfterMs` after its `flushesBefore`-th acknowledged flush; resolves with the last flush it acknowledged. */
function runAndKill(directory: string, flushesBefore: number, killAfterMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), WRITER, directory, String(ENTRIES_A_FLUSH)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acknowledged = 0;
    let killing = false;
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      for (const match of chunk.matchAll(/flushed (\d+)/g)) acknowledged = Number(match[1]);
      if (acknowledged < flushesBefore || killing) return;
      killing = true;
      setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('close', (_code, signal) => (signal === 'SIGKILL' ? resolve(acknowledged) : reject(new Error(`the writer exited by itself: ${stderr}`))));
  });
}

function flushesHeld(boot: BootStorage): number {
  if (boot === null || 'lost' in boot) throw new Error(`the store boots ${JSON.stringify(boot)}`);
  const flushes = boot.header.viewNumber;
  expect(boot.log.length, `${boot.log.length} entries: part of a flush landed`).toBe(flushes * ENTRIES_A_FLUSH);
  expect(boot.log.map((entry) => entry.opNumber)).toEqual(Array.from({ length: boot.log.length }, (_, i) => i + 1));
  expect(boot.log.every((entry, i) => entry.viewNumber === Math.floor(i / ENTRIES_A_FLUSH) + 1)).toBe(true);
  return flushes;
}

test('killed in the middle of its flushes, the writer leaves whole flushes, every acknowledged one among them', async () => {
  for (const [flushesBefore, killAfterMs] of [
    [3, 0],
    [20, 3],
    [5, 11],
  ] as const) {
    const directory = freshDirectory();
    const acknowledged = await runAndKill(directory, flushesBefore, killAfterMs);
    const store = openLmdbStore(directory);
    expect(store.report.damage).toBeNull();
    expect(flushesHeld(store.report.boot)).toBeGreaterThanOrEqual(acknowledged);
    await store.close();
  }
}, 60_000);
