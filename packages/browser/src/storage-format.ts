/**
 * The IndexedDB store's format, as pure functions: its object stores and
 * keys, the checksummed record every value is stored as, and the reading of
 * a whole store's raw contents into what the replica boots with, or the
 * reason it cannot be trusted.
 *
 * Object stores (schema version `SCHEMA_VERSION`):
 * - `log`: one record per log entry, keyed by its op number;
 * - `meta`: `format` (`{ formatVersion }`, plain), `header` (the durable
 *   header), `log-base` (`{ opNumber }`: the log holds the entries after it),
 *   `lost` (`{ reason }`: present from a refused or lost store until the
 *   recovered replica writes its first header);
 * - `checkpoint`: `checkpoint`, the latest checkpoint. It has an object store
 *   of its own so that its background transaction (storage.ts) does not
 *   share a scope with the flushes, which then never wait for it.
 *
 * Every record but `format` is sealed: `{ checksum, json }`, the CRC-32 of
 * the JSON text and the text itself (stored as text, not as a structured
 * clone, so the checksum covers exactly what is decoded).
 */
import { isLeft, left, right, type Either } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { Checkpoint, DurableHeader, LogEntry, NonNegativeInteger, PositiveInteger, decodeWith, type StoredLog } from '@vsr/core';
import { crc32 } from './checksum.js';

/** The format this build writes, and every format it can open. Bump it when an encoding changes. */
export const STORE_FORMAT_VERSION = 1;
const FORMAT_VERSIONS_SUPPORTED: readonly number[] = [STORE_FORMAT_VERSION];
/** IndexedDB's own version number: the object stores below. A database at a higher one is refused. */
export const SCHEMA_VERSION = 1;
export const LOG_STORE = 'log';
export const META_STORE = 'meta';
export const CHECKPOINT_STORE = 'checkpoint';
export const OBJECT_STORES = [LOG_STORE, META_STORE, CHECKPOINT_STORE] as const;
export const FORMAT_KEY = 'format';
export const HEADER_KEY = 'header';
export const LOG_BASE_KEY = 'log-base';
export const LOST_KEY = 'lost';
export const CHECKPOINT_KEY = 'checkpoint';

const REFUSAL = 'refusing to start, nothing was changed';
/** The format record: exact (an unknown field is refused). */
const FormatRecord = t.exact(t.type({ formatVersion: PositiveInteger }));
export const SealedRecord = t.type({ checksum: NonNegativeInteger, json: t.string });
export type SealedRecord = t.TypeOf<typeof SealedRecord>;
const LogBase = t.type({ opNumber: NonNegativeInteger });

/**
 * The store was written in a format this build does not know (its format
 * record, its schema version, or a record whose checksum is right but which
 * does not decode): the replica must not start. `open` throws it having
 * changed nothing. An upgrade that broke a codec would do this to every
 * replica at once, and sending them all into recovery would lose the cluster.
 */
export class StoreIncompatible extends Error {
  constructor(where: string, problem: string) {
    super(`${where}: ${problem}; ${REFUSAL}`);
    this.name = 'StoreIncompatible';
  }
}

/** The raw contents of one database: every store's keys and values, in key order. */
export type RawStore = Readonly<Record<(typeof OBJECT_STORES)[number], ReadonlyArray<readonly [IDBValidKey, unknown]>>>;

export interface Loaded {
  readonly log: StoredLog;
  readonly header: DurableHeader | null;
  readonly checkpoint: Checkpoint | null;
}

export function seal(value: unknown): SealedRecord {
  const json = JSON.stringify(value);
  return { checksum: crc32(json), json };
}

export function formatRecord(): t.TypeOf<typeof FormatRecord> {
  return { formatVersion: STORE_FORMAT_VERSION };
}

export function lostRecord(reason: string): SealedRecord {
  return seal({ reason });
}

export function logBaseRecord(opNumber: number): SealedRecord {
  return seal({ opNumber } satisfies t.TypeOf<typeof LogBase>);
}

/** Damage: the record cannot be trusted (the replica boots as lost). */
type Unsealed<A> = Either<{ readonly damage: string }, A>;

/**
 * A sealed record's value: damage if it is not a sealed record or its checksum
 * fails; a `StoreIncompatible` if its checksum is right but it does not decode.
 */
export function unseal<A>(where: string, raw: unknown, codec: t.Decoder<unknown, A>): Unsealed<A> {
  const envelope = decodeWith(SealedRecord, raw);
  if (isLeft(envelope)) return left({ damage: `${where}: not a sealed record (${envelope.left})` });
  const { checksum, json } = envelope.right;
  if (crc32(json) !== checksum) return left({ damage: `${where}: checksum mismatch` });
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new StoreIncompatible(where, `the checksum is right but the record is not JSON (${messageOf(error)}): a format this build does not know`);
  }
  const decoded = decodeWith(codec, parsed);
  if (isLeft(decoded)) throw new StoreIncompatible(where, `the checksum is right but the record does not decode (${decoded.left}): a format this build does not know`);
  return right(decoded.right);
}

/**
 * Checks the format record: null if there is none (an empty or lost store),
 * else nothing or a `StoreIncompatible` for a version or shape this build does not know.
 */
export function checkFormat(database: string, raw: unknown): 'formatted' | 'unformatted' {
  if (raw === undefined) return 'unformatted';
  const where = `${database}: meta/${FORMAT_KEY}`;
  const decoded = decodeWith(FormatRecord, raw);
  if (isLeft(decoded)) throw new StoreIncompatible(where, decoded.left);
  const version = decoded.right.formatVersion;
  if (!FORMAT_VERSIONS_SUPPORTED.includes(version)) {
    throw new StoreIncompatible(where, `format version ${version} is not supported by this build (supported: ${FORMAT_VERSIONS_SUPPORTED.join(', ')})`);
  }
  const known = Object.keys(FormatRecord.type.props);
  const unknown = Object.keys(raw as object).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new StoreIncompatible(where, unknown.map((key) => `${key}: unknown field (known: ${known.join(', ')})`).join('; '));
  return 'formatted';
}

/** The value under `key` in a store's raw contents. */
export function valueAt(records: ReadonlyArray<readonly [IDBValidKey, unknown]>, key: string): unknown {
  return records.find(([candidate]) => candidate === key)?.[1];
}

/**
 * Reads a formatted store's contents. Returns what it holds or the damage
 * found (every damaged record named); throws a `StoreIncompatible` as soon as
 * a record does not decode: an incompatibility wins over damage elsewhere,
 * since it says every replica is in the same case.
 */
export function loadStore(database: string, raw: RawStore): Loaded | { readonly damage: string } {
  const meta = raw[META_STORE];
  const lost = valueAt(meta, LOST_KEY);
  if (lost !== undefined) return { damage: 'a recovery from an earlier start has not completed' };
  const damages: string[] = [];
  const read = <A>(where: string, value: unknown, codec: t.Decoder<unknown, A>): A | null => {
    if (value === undefined) return null;
    const unsealed = unseal(`${database}: ${where}`, value, codec);
    if (isLeft(unsealed)) {
      damages.push(unsealed.left.damage);
      return null;
    }
    return unsealed.right;
  };
  const header = read(`meta/${HEADER_KEY}`, valueAt(meta, HEADER_KEY), DurableHeader);
  const base = read(`meta/${LOG_BASE_KEY}`, valueAt(meta, LOG_BASE_KEY), LogBase)?.opNumber ?? 0;
  const checkpoint = read(`${CHECKPOINT_STORE}/${CHECKPOINT_KEY}`, valueAt(raw[CHECKPOINT_STORE], CHECKPOINT_KEY), Checkpoint);
  const log: StoredLog = { base, log: [] };
  for (const [key, value] of raw[LOG_STORE]) {
    const where = `${LOG_STORE}/${keyText(key)}`;
    const entry = read(where, value, LogEntry);
    if (entry === null) continue;
    const expected = log.base + log.log.length + 1;
    if (entry.opNumber !== key) damages.push(`${database}: ${where}: holds op ${entry.opNumber} (out of order)`);
    else if (entry.opNumber !== expected) damages.push(`${database}: ${where}: op ${entry.opNumber} where op ${expected} was expected (a gap)`);
    else log.log.push(entry);
  }
  return damages.length > 0 ? { damage: damages.join('; ') } : consistent(database, { log, header, checkpoint });
}

/** The relationships between a store's parts that every flush keeps. */
function consistent(database: string, loaded: Loaded): Loaded | { readonly damage: string } {
  const { log, header, checkpoint } = loaded;
  if (header === null && (log.log.length > 0 || log.base > 0 || checkpoint !== null)) {
    return { damage: `${database}: meta/${HEADER_KEY}: missing, although the store holds a log` };
  }
  if (log.base > (checkpoint?.opNumber ?? 0)) {
    return { damage: `${database}: the log was released through op ${log.base}, past the checkpoint at op ${checkpoint?.opNumber ?? 0}` };
  }
  return loaded;
}

/** Whether a store holds any record at all (an unformatted one with records is damaged). */
export function holdsRecords(raw: RawStore): boolean {
  return OBJECT_STORES.some((name) => raw[name].length > 0);
}

/** A key as text in a reason (keys read back are untrusted: any IndexedDB key may be there). */
function keyText(key: IDBValidKey): string {
  return typeof key === 'number' || typeof key === 'string' ? String(key) : JSON.stringify(key) ?? 'a key';
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
