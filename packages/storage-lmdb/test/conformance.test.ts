/**
 * The LMDB store against the exported conformance suite. A flush is one LMDB transaction, so
 * it lands whole; LMDB never leaves a write cut short, so there is no tear hook and the
 * torn-tail property is skipped. Corruption: a bit of a stored value flipped through lmdb
 * itself, bypassing the store and its checksum.
 */
import { afterAll, describe, test } from 'vitest';
import { describeStoreConformance, type StoreAdapter } from '@vsr/store-conformance';
import { openLmdbStore, type LmdbStore } from '../src/index.js';
import { freshDirectory, recordsOf, removeDirectories, withRawEnv } from './support/raw.js';

afterAll(removeDirectories);

/** Flips one bit of one stored value (meta or log), chosen by `choice`, leaving its checksum. */
function flipBit(directory: string, choice: number): Promise<string> {
  return withRawEnv(directory, (env) => {
    const records = recordsOf(env);
    const record = records[choice % records.length];
    if (record === undefined) return 'nothing (the store holds no record)';
    const [name, keyHex, value] = record;
    const at = Math.floor(choice / records.length) % value.length;
    const bit = Math.floor(choice / records.length / value.length) % 8;
    value.writeUInt8(value.readUInt8(at) ^ (1 << bit), at);
    env.root.transactionSync(() => (name === 'meta' ? env.meta : env.log).putSync(Buffer.from(keyHex, 'hex'), value));
    return `bit ${bit} of byte ${at} of ${name}/${keyHex} (${value.length} bytes)`;
  });
}

const lmdbStore: StoreAdapter<string, LmdbStore> = {
  name: 'LMDB (openLmdbStore)',
  place: () => freshDirectory('vsr-lmdb-conformance-'),
  open: (directory, { create }) => openLmdbStore(directory, { create }),
  // No way to kill the process from inside it: close drops what is buffered and lets the transaction under way land whole, as LMDB would across a crash.
  crash: (store) => store.close(),
  flushAtomicity: 'whole',
  corrupt: flipBit,
};

describeStoreConformance(lmdbStore, { numRuns: 40 }, { describe, test, skip: test.skip });
