/**
 * Reading an LMDB store at open, before anything is written: what it holds, or why it is
 * refused as damaged. A format this build does not know throws a `StoreIncompatible` (an
 * incompatibility wins over damage elsewhere: every replica would be in the same case).
 */
import type { Database, DatabaseOptions, RootDatabase } from 'lmdb';
import { Checkpoint, DurableHeader, LogEntry, type StoredLog } from '@vsr/core';
import {
  FORMAT_VERSIONS_SUPPORTED,
  LOG_DB,
  META_DB,
  META_KEYS,
  StoreDamage,
  StoreIncompatible,
  logKey,
  opNumberOfKey,
  readCount,
  readLost,
  readWith,
  unseal,
  type Reader,
} from './format.js';

export type Db = Database<Buffer, Buffer>;

export interface Loaded {
  readonly header: DurableHeader | null;
  readonly checkpoint: Checkpoint | null;
  readonly log: StoredLog;
}

/** What an open finds: no formatted store, a store to refuse (and why), or what it holds. */
export type Inspected = { readonly kind: 'unformatted' } | { readonly kind: 'damaged'; readonly damage: string } | { readonly kind: 'loaded'; readonly loaded: Loaded };

const DB_OPTIONS: DatabaseOptions = { encoding: 'binary', keyEncoding: 'binary' };
/** lmdb's `create: false` (not in its typings): open a database only if it exists. */
const EXISTING_DB_OPTIONS: DatabaseOptions & { readonly create: boolean } = { ...DB_OPTIONS, create: false };

/** A named database, created if missing (only once the store may be written). */
export function openDb(root: RootDatabase, name: string): Db {
  return root.openDB<Buffer, Buffer>(name, DB_OPTIONS);
}

/** A named database if it exists, without creating it (opening must change nothing before the checks). */
export function existingDb(root: RootDatabase, name: string): Db | null {
  // lmdb hands back undefined for a database that does not exist (its typings do not say so).
  const db = root.openDB<Buffer, Buffer>(name, EXISTING_DB_OPTIONS) as Db | undefined;
  return db ?? null;
}

const isEmpty = (db: Db | null): boolean => db === null || db.getKeysCount({ limit: 1 }) === 0;

/** Reads the store. Throws a StoreIncompatible for a format this build does not know. */
export function inspect(root: RootDatabase, path: string): Inspected {
  const meta = existingDb(root, META_DB);
  const log = existingDb(root, LOG_DB);
  const formatBytes = meta?.getBinary(META_KEYS.format);
  if (meta === null || formatBytes === undefined) {
    return isEmpty(meta) && isEmpty(log) ? { kind: 'unformatted' } : { kind: 'damaged', damage: 'meta/format: missing, although the store holds records' };
  }
  try {
    checkFormat(path, formatBytes);
    if (meta.getBinary(META_KEYS.lost) !== undefined) {
      const { reason } = unseal(path, 'meta/lost', META_KEYS.lost, meta.getBinary(META_KEYS.lost) ?? Buffer.alloc(0), readLost);
      return { kind: 'damaged', damage: `a recovery from an earlier start has not completed (the store was refused: ${reason})` };
    }
    return { kind: 'loaded', loaded: load(meta, log, path) };
  } catch (error) {
    if (error instanceof StoreDamage) return { kind: 'damaged', damage: error.message };
    throw error;
  }
}

function checkFormat(path: string, formatBytes: Buffer): void {
  const { formatVersion } = unseal(path, 'meta/format', META_KEYS.format, formatBytes, readCount('formatVersion'));
  if (!FORMAT_VERSIONS_SUPPORTED.includes(formatVersion)) {
    throw new StoreIncompatible(path, `meta/format: format version ${formatVersion} is not supported by this build (supported: ${FORMAT_VERSIONS_SUPPORTED.join(', ')})`);
  }
}

function readMeta<A>(meta: Db, path: string, name: keyof typeof META_KEYS, read: Reader<A>): A | null {
  const key = META_KEYS[name];
  const bytes = meta.getBinary(key);
  return bytes === undefined ? null : unseal(path, `meta/${key.toString()}`, key, bytes, read);
}

/** Runs `read`, collecting a StoreDamage instead of throwing it (a StoreIncompatible still throws). */
function collecting(damages: string[]): <A>(read: () => A) => A | null {
  return (read) => {
    try {
      return read();
    } catch (error) {
      if (!(error instanceof StoreDamage)) throw error;
      damages.push(error.message);
      return null;
    }
  };
}

/** The log's records after `base`, checked in key order; damage is collected and the reading goes on, to find any incompatibility. */
function loadLog(log: Db | null, base: number, path: string, guard: ReturnType<typeof collecting>): LogEntry[] {
  const entries: LogEntry[] = [];
  let previous = base;
  for (const { key, value } of log?.getRange({}) ?? []) {
    const opNumber = opNumberOfKey(key);
    const name = `log/${opNumber ?? key.toString('hex')}`;
    guard(() => {
      if (opNumber === null) throw new StoreDamage(`${name}: not an op number`);
      if (opNumber !== previous + 1) throw new StoreDamage(`${name}: op ${opNumber} where op ${previous + 1} was expected (${opNumber <= previous ? 'out of order' : 'a gap'})`);
    });
    const entry = opNumber === null ? null : guard(() => unseal(path, name, logKey(opNumber), value, readWith(LogEntry)));
    guard(() => {
      if (entry !== null && entry.opNumber !== opNumber) throw new StoreDamage(`${name}: holds op ${entry.opNumber}`);
    });
    if (entry !== null) entries.push(entry);
    previous = opNumber ?? previous;
  }
  return entries;
}

/** Every record, checked: a StoreDamage names every record that cannot be trusted. */
function load(meta: Db, log: Db | null, path: string): Loaded {
  const damages: string[] = [];
  const guard = collecting(damages);
  const header = guard(() => readMeta(meta, path, 'header', readWith(DurableHeader)));
  const checkpoint = guard(() => readMeta(meta, path, 'checkpoint', readWith(Checkpoint)));
  const base = guard(() => readMeta(meta, path, 'logBase', readCount('opNumber')))?.opNumber ?? 0;
  const entries = loadLog(log, base, path, guard);
  if (damages.length > 0) throw new StoreDamage(damages.join('; '));
  if (header === null && (entries.length > 0 || checkpoint !== null)) throw new StoreDamage('meta/header: missing, although the store holds a log');
  return { header, checkpoint, log: { base, log: entries } };
}
