/**
 * Opening a replica's IndexedDB store: what it holds, or why it is refused.
 * Everything that can refuse a store is read before anything is written:
 *
 * - a database at a schema version this build does not know, a format
 *   record of an unknown version, or a record whose checksum is right but
 *   which does not decode: `StoreIncompatible`, nothing changed;
 * - damage (a checksum that fails, a record that is not a sealed record, a
 *   gap or an entry out of order, a header missing under a log, an
 *   unfinished recovery, records without a format record): the raw records
 *   are copied to a database `<name>-damaged-<n>` (never deleted), the store
 *   is emptied and marked lost, and the replica boots as lost to recover
 *   from its peers (VR Revisited §4.3);
 * - no store at all: lost, unless the replica is being created with its
 *   cluster, exactly as the Node store does.
 */
import type { BootStorage } from '@vsr/core';
import { openDatabase, readAll, transactionDone } from './idb.js';
import {
  CHECKPOINT_STORE,
  FORMAT_KEY,
  LOG_STORE,
  LOST_KEY,
  META_STORE,
  OBJECT_STORES,
  SCHEMA_VERSION,
  StoreIncompatible,
  checkFormat,
  formatRecord,
  holdsRecords,
  loadStore,
  lostRecord,
  messageOf,
  valueAt,
  type Loaded,
  type RawStore,
} from './storage-format.js';

/** A damaged store's copies: `<name>-damaged-1`, `-2`, …; past this many, something else is wrong. */
const DAMAGED_COPIES_MAX = 1000;

export interface OpenReport {
  /** What to hand the reducer in its boot event. */
  readonly boot: BootStorage;
  /** Why the store was refused, if it was, and where its records were copied. */
  readonly damage: string | null;
  /** The database holding the refused store's records, if any were copied. */
  readonly damagedCopy: string | null;
  /** The replica's database. */
  readonly databaseName: string;
}

export interface Opened {
  readonly database: IDBDatabase;
  readonly loaded: Loaded;
  readonly report: OpenReport;
}

/** Creates the object stores a new database (or one created by this open) needs. */
export function upgradeSchema(database: IDBDatabase): void {
  for (const name of OBJECT_STORES) if (!database.objectStoreNames.contains(name)) database.createObjectStore(name);
}

export async function openStore(factory: IDBFactory, name: string, create: boolean, nonce: () => number): Promise<Opened> {
  let opened;
  try {
    opened = await openDatabase(factory, name, SCHEMA_VERSION, upgradeSchema);
  } catch (error) {
    if (error instanceof Error && error.name === 'VersionError') {
      throw new StoreIncompatible(name, `the database has a schema version newer than this build's (${SCHEMA_VERSION}): ${error.message}`);
    }
    throw error;
  }
  const { database } = opened;
  try {
    return await inspect(database, factory, name, create, nonce);
  } catch (error) {
    database.close();
    throw error;
  }
}

async function inspect(database: IDBDatabase, factory: IDBFactory, name: string, create: boolean, nonce: () => number): Promise<Opened> {
  const raw = await readStore(database);
  const empty: Loaded = { log: { base: 0, log: [] }, header: null, checkpoint: null };
  const fresh = (damage: string | null, damagedCopy: string | null): Opened => ({
    database,
    loaded: empty,
    report: { boot: { lost: true, nonce: nonce() }, damage, damagedCopy, databaseName: name },
  });
  if (checkFormat(name, valueAt(raw[META_STORE], FORMAT_KEY)) === 'unformatted') {
    if (holdsRecords(raw)) return markLost(database, factory, name, raw, `${name}: records without a format record`, fresh);
    await resetStore(database, 'the database holds no formatted store (lost, or never created with the cluster)', create);
    if (create) return { database, loaded: empty, report: { boot: null, damage: null, damagedCopy: null, databaseName: name } };
    return fresh('the database holds no formatted store (lost, or never created with the cluster)', null);
  }
  const loaded = loadStore(name, raw);
  if ('damage' in loaded) return markLost(database, factory, name, raw, loaded.damage, fresh);
  const { header, checkpoint, log } = loaded;
  const boot: BootStorage = header === null ? null : { header, checkpoint, log: [...log.log] };
  return { database, loaded, report: { boot, damage: null, damagedCopy: null, databaseName: name } };
}

/** Refuses a damaged store: marks it lost, copies its records aside, empties it. */
async function markLost(
  database: IDBDatabase,
  factory: IDBFactory,
  name: string,
  raw: RawStore,
  reason: string,
  fresh: (damage: string, damagedCopy: string) => Opened,
): Promise<Opened> {
  // The lost mark first: a crash before the store is emptied must not let the next start trust it.
  const marking = database.transaction([META_STORE], 'readwrite', { durability: 'strict' });
  marking.objectStore(META_STORE).put(lostRecord(reason), LOST_KEY);
  await transactionDone(marking);
  const copy = await copyAside(factory, name, raw);
  await resetStore(database, reason, false);
  return fresh(`${reason}; the store's records were copied to the database ${copy}`, copy);
}

/** Empties the store but for a format record and, unless `create`, a lost mark. */
async function resetStore(database: IDBDatabase, reason: string, create: boolean): Promise<void> {
  const transaction = database.transaction([...OBJECT_STORES], 'readwrite', { durability: 'strict' });
  for (const store of OBJECT_STORES) transaction.objectStore(store).clear();
  const meta = transaction.objectStore(META_STORE);
  meta.put(formatRecord(), FORMAT_KEY);
  if (!create) meta.put(lostRecord(reason), LOST_KEY);
  await transactionDone(transaction);
}

/** Copies every raw record into a new database `<name>-damaged-<n>` and returns its name. */
async function copyAside(factory: IDBFactory, name: string, raw: RawStore): Promise<string> {
  for (let n = 1; n <= DAMAGED_COPIES_MAX; n++) {
    const copyName = `${name}-damaged-${n}`;
    const { database: copy, existed } = await openDatabase(factory, copyName, SCHEMA_VERSION, upgradeSchema).catch((error: unknown) => {
      throw new Error(`IndexedDB: could not create ${copyName} to keep a damaged store aside (${messageOf(error)})`);
    });
    if (existed) {
      copy.close();
      continue;
    }
    try {
      const transaction = copy.transaction([...OBJECT_STORES], 'readwrite', { durability: 'strict' });
      for (const store of OBJECT_STORES) for (const [key, value] of raw[store]) transaction.objectStore(store).put(value, key);
      await transactionDone(transaction);
    } finally {
      copy.close();
    }
    return copyName;
  }
  throw new Error(`IndexedDB: ${DAMAGED_COPIES_MAX} copies of damaged stores named ${name}-damaged-<n> exist already; remove some`);
}

/** Every record of the store, read in one transaction. */
export async function readStore(database: IDBDatabase): Promise<RawStore> {
  const transaction = database.transaction([...OBJECT_STORES], 'readonly');
  const [log, meta, checkpoint] = await Promise.all([readAll(transaction, LOG_STORE), readAll(transaction, META_STORE), readAll(transaction, CHECKPOINT_STORE)]);
  return { [LOG_STORE]: log, [META_STORE]: meta, [CHECKPOINT_STORE]: checkpoint };
}
