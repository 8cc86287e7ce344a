/**
 * Run as a child process by the kill test: `crash-writer <directory> <entries a flush>` opens
 * the LMDB store in the directory and flushes forever, each flush that many appends and a
 * header whose view counts the flushes, printing `flushed <n>` once flush n has resolved (is
 * acknowledged), until killed.
 */
import { openLmdbStore } from '../../src/index.js';

const [directory, entriesText] = process.argv.slice(2);
const ENTRIES_A_FLUSH = Number(entriesText);
if (directory === undefined || !Number.isSafeInteger(ENTRIES_A_FLUSH) || ENTRIES_A_FLUSH < 1) throw new Error('usage: crash-writer <directory> <entries a flush>');
const store = openLmdbStore(directory, { create: true });
for (let flush = 1; ; flush++) {
  for (let i = 1; i <= ENTRIES_A_FLUSH; i++) {
    const opNumber = (flush - 1) * ENTRIES_A_FLUSH + i;
    store.apply({ kind: 'log-append', entry: { opNumber, viewNumber: flush, timestampMs: opNumber, requests: [{ clientId: 'c', requestNumber: opNumber, operation: 'x'.repeat(100) }] } });
  }
  store.apply({ kind: 'persist-header', header: { viewNumber: flush, lastNormalView: flush } });
  await store.flush();
  process.stdout.write(`flushed ${flush}\n`);
}
