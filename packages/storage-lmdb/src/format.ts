/**
 * The LMDB store's format, as pure functions: its databases and keys, and the checksummed
 * value every record is stored as.
 *
 * One LMDB environment in the data directory (data.mdb, lock.mdb), three named databases:
 * - `log`: one record per log entry, keyed by its op number as 8 bytes big-endian (so LMDB's
 *   byte order is op order);
 * - `meta`: `format` (`{ formatVersion }`), `header` (the durable header), `checkpoint` (the
 *   latest checkpoint), `log-base` (`{ opNumber }`: the log holds the entries after it), `lost`
 *   (`{ reason }`: present from a refused or lost store until the recovered replica writes its
 *   first header);
 * - `damaged`: the records of a store refused as damaged, moved there byte for byte (never
 *   deleted), keyed by [copy number u32 BE][the database's initial][the record's key].
 *
 * Every value is sealed: [CRC-32 u32 BE][JSON, UTF-8], the checksum taken over the record's
 * key and then its JSON, so a changed byte anywhere in a value, or a value that moved to
 * another key, is detected.
 */
import { crc32 } from 'node:zlib';
import { decodeWith } from '@vsr/core';

/** The format this build writes, and every format it can open. Bump it when an encoding changes. */
export const FORMAT_VERSION = 1;
export const FORMAT_VERSIONS_SUPPORTED: readonly number[] = [FORMAT_VERSION];

export const LOG_DB = 'log';
export const META_DB = 'meta';
export const DAMAGED_DB = 'damaged';

export const META_KEYS = {
  format: Buffer.from('format'),
  header: Buffer.from('header'),
  checkpoint: Buffer.from('checkpoint'),
  logBase: Buffer.from('log-base'),
  lost: Buffer.from('lost'),
} as const;

/** Reads a record's decoded JSON: the value, or why it is not one (a core codec through `decodeWith`, or a check by hand). */
export type Reader<A> = (json: unknown) => { readonly _tag: 'Left'; readonly left: string } | { readonly _tag: 'Right'; readonly right: A };

/** A reader from one of the core's codecs. */
export const readWith =
  <A>(codec: Parameters<typeof decodeWith<A>>[0]): Reader<A> =>
  (json) =>
    decodeWith(codec, json);

/** A reader of `{ [field]: a non-negative integer }` and nothing else. */
export function readCount<F extends string>(field: F): Reader<Record<F, number>> {
  return (json) => {
    const fields = typeof json === 'object' && json !== null && !Array.isArray(json) ? Object.keys(json) : null;
    const value = fields === null ? undefined : (json as Record<string, unknown>)[field];
    if (fields === null) return { _tag: 'Left', left: `(root): expected an object, got ${JSON.stringify(json)}` };
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return { _tag: 'Left', left: `${field}: expected a non-negative integer, got ${JSON.stringify(value) ?? 'undefined'}` };
    const unknown = fields.filter((name) => name !== field);
    if (unknown.length > 0) return { _tag: 'Left', left: unknown.map((name) => `${name}: unknown field (known: ${field})`).join('; ') };
    return { _tag: 'Right', right: { [field]: value } as Record<F, number> };
  };
}

/** A reader of the lost record, `{ reason }`. */
export const readLost: Reader<{ reason: string }> = (json) => {
  const reason = typeof json === 'object' && json !== null ? (json as { reason?: unknown }).reason : undefined;
  return typeof reason === 'string' ? { _tag: 'Right', right: { reason } } : { _tag: 'Left', left: `reason: expected a string, got ${JSON.stringify(reason) ?? 'undefined'}` };
};

const CHECKSUM_BYTES = 4;
const REFUSAL = 'refusing to start, nothing was changed';

/**
 * The store was written in a format this build does not know (its format record names another
 * version, or a record whose checksum is right does not decode): the replica must not start.
 * `openLmdbStore` throws it having changed nothing. An upgrade that broke a codec would do this
 * to every replica at once, and sending them all into recovery would lose the cluster.
 */
export class StoreIncompatible extends Error {
  constructor(where: string, problem: string) {
    super(`${where}: ${problem}; ${REFUSAL}`);
    this.name = 'StoreIncompatible';
  }
}

/** A record that cannot be trusted (a checksum mismatch, a record out of order): the store is refused, the replica boots as lost. */
export class StoreDamage extends Error {}

/** An op number as a log key: 8 bytes, big-endian. */
export function logKey(opNumber: number): Buffer {
  const key = Buffer.alloc(8);
  key.writeBigUInt64BE(BigInt(opNumber));
  return key;
}

/** The op number of a log key, or null if it is not one. */
export function opNumberOfKey(key: Buffer): number | null {
  if (key.length !== 8) return null;
  const opNumber = key.readBigUInt64BE();
  return opNumber <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(opNumber) : null;
}

export function seal(key: Buffer, value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  const sealed = Buffer.alloc(CHECKSUM_BYTES + json.length);
  sealed.writeUInt32BE(crc32(json, crc32(key)), 0);
  json.copy(sealed, CHECKSUM_BYTES);
  return sealed;
}

/**
 * A sealed value, checked and decoded. Throws a StoreDamage if its checksum is wrong, a
 * StoreIncompatible if the checksum is right but it does not decode.
 */
export function unseal<A>(where: string, name: string, key: Buffer, sealed: Buffer, read: Reader<A>): A {
  if (sealed.length < CHECKSUM_BYTES) throw new StoreDamage(`${name}: a record of ${sealed.length} bytes, shorter than its checksum`);
  const json = sealed.subarray(CHECKSUM_BYTES);
  if (sealed.readUInt32BE(0) !== crc32(json, crc32(key))) throw new StoreDamage(`${name}: checksum mismatch`);
  const decoded = decodeJson(json.toString('utf8'), read);
  if (decoded._tag === 'Left') throw new StoreIncompatible(where, `${name}: the checksum is right but the record does not decode (${decoded.left}): a format this build does not know`);
  return decoded.right;
}

function decodeJson<A>(text: string, read: Reader<A>): ReturnType<Reader<A>> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { _tag: 'Left', left: `not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  return read(json);
}
