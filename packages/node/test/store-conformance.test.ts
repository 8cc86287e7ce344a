/**
 * The default Node store (`openFileStore`, the journal store) against the exported conformance
 * suite, with the faults it can be dealt on its files: a torn tail (bytes cut off the end of
 * journal.log, inside its last record) and corruption (a bit flipped anywhere in journal.log,
 * header.json or checkpoint.json). Its flush is an ordered prefix, not whole: the journal is
 * synced before a header is renamed into place, so a crash between them keeps the records and
 * loses the header.
 */
import { describe, test } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeStoreConformance, type StoreAdapter } from '../../store-conformance/src/index.js';
import { openFileStore } from '../src/index.js';

/** journal.log's frames: [length u32 LE][payload crc32][header crc32][payload]. */
const FRAME_BYTES = 12;

/** Where the journal's last record starts, and its length with its frame. */
function lastRecord(bytes: Buffer): { offset: number; recordBytes: number } {
  let offset = 0;
  for (;;) {
    const recordBytes = FRAME_BYTES + bytes.readUInt32LE(offset);
    if (offset + recordBytes >= bytes.length) return { offset, recordBytes };
    offset += recordBytes;
  }
}

/** Cuts the journal inside its last record: at least one byte of it kept, at least one cut. */
function tearJournal(directory: string, choice: number): void {
  const path = join(directory, 'journal.log');
  const bytes = readFileSync(path);
  const { offset, recordBytes } = lastRecord(bytes);
  truncateSync(path, offset + 1 + (choice % (recordBytes - 1)));
}

/** Flips one bit of the store's files (journal, header, checkpoint), chosen by `choice`. */
function flipBit(directory: string, choice: number): string {
  const files = ['journal.log', 'header.json', 'checkpoint.json'].filter((file) => existsSync(join(directory, file)));
  const contents = files.map((file) => readFileSync(join(directory, file)));
  const totalBytes = contents.reduce((sum, bytes) => sum + bytes.length, 0);
  if (totalBytes === 0) return 'nothing (the store files are empty)';
  let at = choice % totalBytes;
  const bit = Math.floor(choice / totalBytes) % 8;
  for (const [index, bytes] of contents.entries()) {
    if (at < bytes.length) {
      bytes.writeUInt8(bytes.readUInt8(at) ^ (1 << bit), at);
      writeFileSync(join(directory, files[index] ?? ''), bytes);
      return `bit ${bit} of byte ${at} of ${files[index]} (${bytes.length} bytes)`;
    }
    at -= bytes.length;
  }
  return 'nothing';
}

const fileStore: StoreAdapter<string, ReturnType<typeof openFileStore>> = {
  name: 'FileStorage (openFileStore)',
  place: () => mkdtempSync(join(tmpdir(), 'vsr-conformance-')),
  open: (directory, { create }) => openFileStore(directory, { create }),
  // close() is a crash for this store: buffered writes are dropped, and a flush under way stops after the write in progress.
  crash: (store) => store.close(),
  dispose: (directory) => rmSync(directory, { recursive: true, force: true }),
  flushAtomicity: 'ordered-prefix',
  tearTail: tearJournal,
  corrupt: flipBit,
};

describeStoreConformance(fileStore, { numRuns: 40 }, { describe, test, skip: test.skip });
