/**
 * `@vsr/storage-lmdb`: a replica store on LMDB (the `lmdb` package, whose prebuilt binary
 * ships in a registry package, so installing it needs no compiler), under the effect contract
 * (docs/architecture.md) and the `ReplicaStore` interface of `@vsr/runtime`:
 *
 * - one LMDB write transaction per flush (group commit: every effect buffered since the last
 *   flush), synced before the flush resolves (LMDB's default sync on commit; `overlappingSync`
 *   off, never `noSync`), atomic across a crash: no torn tails;
 * - records keyed by op number, each value with a CRC-32 over its key and its JSON (format.ts);
 * - the directory 0700, its files 0600.
 *
 * Opening is `openFileStore`'s: a store is created only when asked (`create`, when the cluster
 * is formed); a directory with no store boots as lost; damage (a checksum mismatch, a record
 * out of order, a header missing under a log) boots as lost, the records moved aside into the
 * `damaged` database, never deleted, and the store marked lost until a recovery writes a
 * header; a store of a format this build does not know throws a `StoreIncompatible` naming the
 * path, having changed nothing.
 */
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { open, type RootDatabase, type RootDatabaseOptions } from 'lmdb';
import type { BootStorage } from '@vsr/core';
import { DAMAGED_DB, FORMAT_VERSION, LOG_DB, META_DB, META_KEYS, readCount, seal, unseal } from './format.js';
import { inspect, openDb, type Db, type Loaded } from './load.js';
import { LmdbStore } from './store.js';

export { StoreIncompatible, FORMAT_VERSION } from './format.js';
export type { LmdbStore } from './store.js';

export interface LmdbOpenOptions {
  /** Create a new replica's store if the directory has none (only when the cluster is formed). */
  readonly create?: boolean;
  /** The recovery nonce of a store that boots as lost (default: 31 random bits). */
  readonly nonce?: () => number;
}

const DIRECTORY_MODE = 0o700;
const FILE_MODE = 0o600;
const ENV_FILES = ['data.mdb', 'lock.mdb'] as const;
const NO_STORE = 'the directory holds no store (lost, or never created with the cluster)';

/**
 * lmdb's options: values and keys as raw bytes, LMDB's sync on every commit (overlappingSync,
 * lmdb's default on Linux, resolves a commit before its sync), and files created 0600
 * (`permissionsMode`, which lmdb's typings leave out).
 */
const ENV_OPTIONS: RootDatabaseOptions & { readonly permissionsMode: number } = {
  encoding: 'binary',
  keyEncoding: 'binary',
  overlappingSync: false,
  maxDbs: 4,
  permissionsMode: FILE_MODE,
};

const EMPTY: Loaded = { header: null, checkpoint: null, log: { base: 0, log: [] } };

/** The LMDB store in `directory` as a `ReplicaStore`. Throws `StoreIncompatible` for a store this build cannot read, having changed nothing. */
export function openLmdbStore(directory: string, options: LmdbOpenOptions = {}): LmdbStore {
  if (!existsSync(directory)) mkdirSync(directory, { recursive: true, mode: DIRECTORY_MODE });
  const root = open<Buffer, Buffer>(directory, ENV_OPTIONS);
  try {
    return openIn(root, directory, options);
  } catch (error) {
    void root.close();
    throw error;
  }
}

function openIn(root: RootDatabase<Buffer, Buffer>, directory: string, options: LmdbOpenOptions): LmdbStore {
  // Everything that can refuse the store is read before anything is written.
  const inspected = inspect(root, directory);
  narrowModes(directory);
  const databases = { root, meta: openDb(root, META_DB), log: openDb(root, LOG_DB) };
  const nonce = options.nonce ?? (() => randomInt(0, 0x7fff_ffff));
  const lost = (damage: string): LmdbStore => new LmdbStore(databases, EMPTY, { boot: { lost: true, nonce: nonce() }, tornTail: false, damage });
  if (inspected.kind === 'unformatted' && options.create === true) {
    root.transactionSync(() => databases.meta.putSync(META_KEYS.format, seal(META_KEYS.format, { formatVersion: FORMAT_VERSION })));
    return new LmdbStore(databases, EMPTY, { boot: null, tornTail: false, damage: null });
  }
  if (inspected.kind === 'unformatted') return lost(refuse(root, databases.meta, databases.log, NO_STORE, directory));
  if (inspected.kind === 'damaged') return lost(refuse(root, databases.meta, databases.log, inspected.damage, directory));
  const { header, checkpoint, log } = inspected.loaded;
  const boot: BootStorage = header === null ? null : { header, checkpoint, log: [...log.log] };
  return new LmdbStore(databases, inspected.loaded, { boot, tornTail: false, damage: null });
}

/** The next copy number in the damaged database: one more than the last one's. */
function nextCopyNumber(damaged: Db): number {
  for (const key of damaged.getKeys({ reverse: true, limit: 1 })) return key.readUInt32BE(0) + 1;
  return 1;
}

/**
 * Refuses the store in one transaction: every record (but a sound format record and the lost
 * mark) moves into the damaged database, byte for byte, keyed by copy number, database and key;
 * a format record of this build is written, and the store is marked lost if it was not yet.
 * Returns the report's damage text.
 */
function refuse(root: RootDatabase<Buffer, Buffer>, meta: Db, log: Db, reason: string, directory: string): string {
  const damaged = openDb(root, DAMAGED_DB);
  const copy = nextCopyNumber(damaged);
  const moved = root.transactionSync(() => {
    const records = [
      ...[...meta.getRange({})].filter(({ key, value }) => !kept(key, value, directory)).map((record) => ({ initial: 'm', ...record })),
      ...[...log.getRange({})].map((record) => ({ initial: 'l', ...record })),
    ];
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(copy);
    for (const { initial, key, value } of records) {
      damaged.putSync(Buffer.concat([prefix, Buffer.from(initial), key]), value);
      (initial === 'm' ? meta : log).removeSync(key);
    }
    meta.putSync(META_KEYS.format, seal(META_KEYS.format, { formatVersion: FORMAT_VERSION }));
    // A lost mark already there keeps the first reason (a later start during the recovery adds none).
    if (meta.getBinary(META_KEYS.lost) === undefined) meta.putSync(META_KEYS.lost, seal(META_KEYS.lost, { reason }));
    return records.length;
  });
  return moved === 0 ? reason : `${reason}; the store's ${moved} records were moved to copy ${copy} of the "${DAMAGED_DB}" database in ${join(directory, 'data.mdb')}`;
}

/** The records a refusal leaves in place: the lost mark and a format record whose checksum holds. */
function kept(key: Buffer, value: Buffer, directory: string): boolean {
  if (key.equals(META_KEYS.lost)) return true;
  if (!key.equals(META_KEYS.format)) return false;
  try {
    unseal(directory, 'meta/format', key, value, readCount('formatVersion'));
    return true;
  } catch {
    return false;
  }
}

/** The directory to 0700 and the environment's files to 0600, for a store made with wider modes. */
function narrowModes(directory: string): void {
  const narrow = (path: string, mode: number) => {
    if (existsSync(path) && (statSync(path).mode & 0o777) !== mode) chmodSync(path, mode);
  };
  narrow(directory, DIRECTORY_MODE);
  for (const file of ENV_FILES) narrow(join(directory, file), FILE_MODE);
}
