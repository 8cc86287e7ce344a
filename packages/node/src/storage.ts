/**
 * Durable storage for one replica in a data directory, under the effect
 * contract (docs/architecture.md). The directory is mode 0700 and every file
 * in it 0600, temporary files included (an older version's 0755 directory and
 * 0644 files are narrowed at open, once nothing has refused the store):
 *
 * - `journal.log`: an append-only journal of the reducer's log effects
 *   (log-append, log-truncate, log-release), each framed as
 *   [length u32][payload crc32 u32][header crc32 u32][JSON payload], replayed with the core's
 *   `applyLogEffect`;
 * - `header.json` and `checkpoint.json`: written atomically (temporary file,
 *   fsync, rename, fsync of the directory), each with its own CRC32;
 * - `format.json`: `{"formatVersion":N}`, written once when the replica is
 *   created with its cluster and checked at every open;
 * - `lost.json`: written when a store is refused, removed once the replica has
 *   recovered and written a header, so a crash during recovery cannot make
 *   the replica look new;
 * - `damaged-<time>/`: the files of a store refused as damaged, moved aside.
 *
 * Effects are buffered by `apply` and made durable by `flush`, which keeps
 * their order (a header or checkpoint is written only after the journal
 * records before it are synced) with as few fsyncs as that allows: one per
 * flush in the common case (group commit).
 *
 * At open, two kinds of trouble are told apart:
 *
 * - Damage, to this replica's disk: a checksum that fails, a record out of
 *   order, a header missing under a log, a missing format marker. The store
 *   cannot be trusted and may have lost ops this replica acknowledged, so it
 *   is refused: its files are moved to `damaged-<time>/` (never deleted, never
 *   truncated to the last good record) and the replica boots as lost, to
 *   recover from its peers (VR Revisited §4.3). A later start before the
 *   recovery has written a header moves what it wrote aside the same way. A
 *   file that cannot be read at all (permissions, I/O) is not damage: `open`
 *   throws. Nor is a record cut short at the end of the journal: it is a
 *   write a crash interrupted before its fsync, so nothing depending on it
 *   was ever sent; it is dropped.
 * - Incompatibility, of this build with the store: a format.json that is not
 *   JSON or names a version this build does not know, or a record, header or
 *   checkpoint whose checksum is right but which does not decode. An upgrade
 *   (or a downgrade) would do that to every replica at once, and recovering
 *   from peers that are all refused would lose the cluster, so `open` throws a
 *   `StoreIncompatible` naming the file and the field, and changes nothing.
 */
import { chmodSync, closeSync, fchmodSync, fsync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, write, writeFileSync, writeSync, existsSync } from 'node:fs';
import * as fsPromises from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { ReplicaStore } from '@vsr/runtime';
import { randomInt } from 'node:crypto';
import { isLeft, left, type Either } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import {
  Checkpoint,
  DurableHeader,
  LogEntry,
  NonNegativeInteger,
  PositiveInteger,
  applyLogEffect,
  decodeWith,
  type BootStorage,
  type Effect,
  type LogEffect,
  type StoredLog,
} from '@vsr/core';

const JOURNAL = 'journal.log';
const HEADER = 'header.json';
const CHECKPOINT = 'checkpoint.json';
const FORMAT = 'format.json';
/** The format this build writes, and every format it can open. Bump it when an encoding changes. */
const FORMAT_VERSION = 3;
const FORMAT_VERSIONS_SUPPORTED: readonly number[] = [FORMAT_VERSION];
/** format.json: exact (an unknown field is refused, see `checkFormat`). */
const FormatFile = t.exact(t.type({ formatVersion: PositiveInteger }));
/** The files of a store, moved aside together when it is refused as damaged. */
const STORE_FILES = [JOURNAL, HEADER, CHECKPOINT] as const;
/** Where a refused store's files go: `damaged-<ISO time, ':' as '-'>`, inside the data directory. */
const DAMAGED_PREFIX = 'damaged-';
const DIRECTORY_MODE = 0o700;
const FILE_MODE = 0o600;
const REFUSAL = 'refusing to start, nothing was changed';
/** Present from a refused or lost store until the recovered replica writes its first header. */
const LOST = 'lost.json';
/** [payload length u32][payload crc32 u32][crc32 of those 8 bytes u32], all little-endian. */
const FRAME_BYTES = 12;
/** Rewrite the journal once this many records describe entries no longer held. */
const COMPACT_AFTER_RECORDS = 4096;

/** A journal record is a log effect, exactly as the reducer emitted it: its codec, by kind. */
const JOURNAL_RECORD_CODECS: Readonly<Record<LogEffect['kind'], t.Decoder<unknown, LogEffect>>> = {
  'log-append': t.type({ kind: t.literal('log-append'), entry: LogEntry }),
  'log-truncate': t.type({ kind: t.literal('log-truncate'), opNumber: NonNegativeInteger }),
  'log-release': t.type({ kind: t.literal('log-release'), opNumber: NonNegativeInteger }),
};

/**
 * The store was written in a format this build does not know (format.json, or
 * a record, header or checkpoint whose checksum is right but which does not
 * decode): the replica must not start. Thrown by `open`, which then has
 * changed nothing in the directory.
 */
export class StoreIncompatible extends Error {
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}; ${REFUSAL}`);
    this.name = 'StoreIncompatible';
  }
}

/** The store is damaged (a checksum fails, a record is out of order): refused, the replica boots as lost. */
class StoreDamage extends Error {}

type Loaded = { log: StoredLog; tornTail: boolean; header: DurableHeader | null; checkpoint: Checkpoint | null };

export interface OpenOptions {
  /** Create a new replica's store if the directory has none (only when the cluster is formed). */
  readonly create?: boolean;
}

export interface OpenReport {
  /** What to hand the reducer in its boot event. */
  readonly boot: BootStorage;
  /** A record cut short at the journal's end was dropped. */
  readonly tornTail: boolean;
  /** Why the store was refused, if it was, and where its files were moved. */
  readonly damage: string | null;
}

/** One durable write a flush performs, in order. */
type Step =
  | { readonly kind: 'journal'; readonly bytes: Buffer }
  /** Write a checkpoint: in the background for flushAsync (later writes do not wait), inline for flush. */
  | { readonly kind: 'checkpoint'; readonly checkpoint: Checkpoint }
  /** Wait until a checkpoint at or after `opNumber` is durable (before a release that relies on it). */
  | { readonly kind: 'await-checkpoint'; readonly opNumber: number }
  | { readonly kind: 'atomic'; readonly file: string; readonly contents: string }
  | { readonly kind: 'remove-lost' }
  | { readonly kind: 'compact'; readonly bytes: Buffer };

type Pending =
  | { readonly kind: 'record'; readonly record: LogEffect }
  | { readonly kind: 'header'; readonly header: DurableHeader }
  | { readonly kind: 'checkpoint'; readonly checkpoint: Checkpoint };

export class FileStorage {
  private pending: Pending[] = [];
  private readonly log: StoredLog;
  /** Records in the journal file; those beyond the live entries describe entries no longer held. */
  private journalRecords: number;
  private journalFd: number;
  /** An asynchronous flush is writing; the journal's descriptor must stay open until it ends. */
  private writing = false;
  private closed = false;
  /** The op of the newest checkpoint known durable. */
  private durableCheckpointOpNumber: number;
  /** Checkpoint writes under way in the background, one after another. */
  private checkpointWrites: Promise<void> = Promise.resolve();
  private checkpointsWriting = 0;
  private checkpointFailure: Error | null = null;

  private constructor(
    readonly directory: string,
    log: StoredLog,
    private header: DurableHeader | null,
    private checkpoint: Checkpoint | null,
  ) {
    this.log = log;
    this.durableCheckpointOpNumber = checkpoint?.opNumber ?? 0;
    this.journalRecords = log.log.length;
    this.journalFd = openSync(join(directory, JOURNAL), 'a', FILE_MODE);
  }

  /**
   * Opens (or creates) the store and says what the replica should boot with.
   * A damaged store is moved aside and the replica boots as lost; a store this
   * build cannot read throws a `StoreIncompatible` before anything is changed.
   */
  static open(directory: string, options: OpenOptions = {}): { storage: FileStorage; report: OpenReport } {
    if (!existsSync(directory)) mkdirSync(directory, { recursive: true, mode: DIRECTORY_MODE });
    const formatted = existsSync(join(directory, FORMAT));
    // Everything that can refuse the store is read before anything is written.
    if (formatted) checkFormat(directory);
    const inspected = formatted ? inspect(directory) : null;
    narrowModes(directory);
    if (!formatted && options.create === true) {
      writeAtomically(directory, FORMAT, formatText());
      return { storage: new FileStorage(directory, { base: 0, log: [] }, null, null), report: { boot: null, tornTail: false, damage: null } };
    }
    if (inspected === null || 'damage' in inspected) {
      const reason = inspected?.damage ?? 'the directory holds no formatted store (lost, or never created with the cluster)';
      return FileStorage.openLost(directory, reason, formatted);
    }
    const { log, tornTail, header, checkpoint } = inspected;
    const storage = new FileStorage(directory, log, header, checkpoint);
    if (tornTail) storage.rewriteJournal();
    const boot: BootStorage = header === null ? null : { header, checkpoint, log: [...log.log] };
    return { storage, report: { boot, tornTail, damage: null } };
  }

  /** Refuses the store: marks it lost, moves its files aside, and boots empty as lost. */
  private static openLost(directory: string, reason: string, formatted: boolean): { storage: FileStorage; report: OpenReport } {
    // lost.json first: a crash before the files are moved must not let the next start trust them.
    writeAtomically(directory, LOST, JSON.stringify({ reason }));
    const movedTo = moveStoreAside(directory);
    if (!formatted) writeAtomically(directory, FORMAT, formatText());
    const damage = movedTo === null ? reason : `${reason}; the store's files were moved to ${movedTo}`;
    const storage = new FileStorage(directory, { base: 0, log: [] }, null, null);
    return { storage, report: { boot: { lost: true, nonce: randomInt(0, 0x7fff_ffff) }, tornTail: false, damage } };
  }

  /** Buffers a storage effect (others are ignored). Durable only after `flush`. */
  apply(effect: Effect): void {
    switch (effect.kind) {
      case 'log-append':
      case 'log-truncate':
      case 'log-release':
        this.pending.push({ kind: 'record', record: effect });
        break;
      case 'persist-header':
        this.pending.push({ kind: 'header', header: effect.header });
        break;
      case 'persist-checkpoint':
        this.pending.push({ kind: 'checkpoint', checkpoint: effect.checkpoint });
        break;
      default:
        break;
    }
  }

  /** True when `apply` has buffered writes that are not durable yet. */
  get dirty(): boolean {
    return this.pending.length > 0;
  }

  /**
   * Makes every buffered write durable, in order: consecutive journal records
   * in one write and one fsync; a header or checkpoint only after the journal
   * records before it are synced. Blocks the thread; `flushAsync` does not.
   */
  flush(): void {
    if (this.writing) throw new Error('invariant: flush() while flushAsync() is writing');
    if (this.checkpointsWriting > 0) throw new Error('invariant: flush() while a checkpoint is being written (await settle() first)');
    if (this.closed) throw new Error('FileStorage: closed');
    for (const step of this.plan()) this.runSync(step);
  }

  /**
   * `flush`, with the writes and fsyncs on libuv's thread pool so the event
   * loop runs on meanwhile. Effects applied after the call are not part of
   * it (they wait for the next flush). One at a time: the caller waits for
   * the promise before starting another. If the store is closed meanwhile,
   * the remaining steps are skipped (as a crash would), and the journal's
   * descriptor is closed once the step in progress ends.
   *
   * A checkpoint is written in the background: the flush (and the sends
   * waiting for it) does not wait for it, so a large application state does
   * not hold up acknowledgements and heartbeats. Only a release of log
   * entries waits until a checkpoint covering them is durable, and the
   * journal records after that release wait with it; a checkpoint being
   * committed state, nothing else depends on it being on disk.
   */
  async flushAsync(): Promise<void> {
    if (this.writing) throw new Error('invariant: flushAsync() while another flush is writing');
    if (this.closed) throw new Error('FileStorage: closed');
    this.writing = true;
    try {
      if (this.checkpointFailure !== null) throw this.checkpointFailure;
      for (const step of this.plan()) {
        if (this.closed) return;
        await this.runAsync(step);
      }
    } finally {
      this.writing = false;
      if (this.closed) closeSync(this.journalFd);
    }
  }

  /** Takes the buffered effects and turns them into the writes that make them durable. */
  private plan(): Step[] {
    const pending = this.pending;
    this.pending = [];
    const steps: Step[] = [];
    let batch: Buffer[] = [];
    const endBatch = () => {
      if (batch.length === 0) return;
      steps.push({ kind: 'journal', bytes: Buffer.concat(batch) });
      batch = [];
    };
    for (const item of pending) {
      if (item.kind === 'record') {
        if (item.record.kind === 'log-release' && item.record.opNumber > this.durableCheckpointOpNumber) {
          // `this.checkpoint` is the newest checkpoint applied so far, durable or being written.
          if ((this.checkpoint?.opNumber ?? 0) < item.record.opNumber) {
            throw new Error(`invariant: release of op ${item.record.opNumber} with no checkpoint covering it`);
          }
          endBatch();
          steps.push({ kind: 'await-checkpoint', opNumber: item.record.opNumber });
        }
        applyLogEffect(this.log, item.record);
        this.journalRecords++;
        batch.push(frame(item.record));
      } else {
        endBatch();
        if (item.kind === 'header') {
          this.header = item.header;
          steps.push({ kind: 'atomic', file: HEADER, contents: sealed(item.header) }, { kind: 'remove-lost' });
        } else {
          this.checkpoint = item.checkpoint;
          steps.push({ kind: 'checkpoint', checkpoint: item.checkpoint });
        }
      }
    }
    endBatch();
    if (this.journalRecords - this.log.log.length >= COMPACT_AFTER_RECORDS) {
      const bytes = this.liveJournal();
      this.journalRecords = this.log.log.length + 1;
      steps.push({ kind: 'compact', bytes });
    }
    return steps;
  }

  private runSync(step: Step): void {
    switch (step.kind) {
      case 'journal':
        writeFully(this.journalFd, step.bytes);
        fsyncSync(this.journalFd);
        return;
      case 'atomic':
        writeAtomically(this.directory, step.file, step.contents);
        return;
      case 'checkpoint':
        writeAtomically(this.directory, CHECKPOINT, sealed(step.checkpoint));
        this.durableCheckpointOpNumber = Math.max(this.durableCheckpointOpNumber, step.checkpoint.opNumber);
        return;
      case 'await-checkpoint':
        if (this.durableCheckpointOpNumber < step.opNumber) throw new Error(`invariant: release of op ${step.opNumber} before a checkpoint covers it`);
        return;
      case 'remove-lost':
        removeDurably(this.directory, LOST);
        return;
      case 'compact':
        closeSync(this.journalFd);
        writeAtomically(this.directory, JOURNAL, step.bytes);
        this.journalFd = openSync(join(this.directory, JOURNAL), 'a', FILE_MODE);
        return;
    }
  }

  private async runAsync(step: Step): Promise<void> {
    switch (step.kind) {
      case 'journal': {
        let written = 0;
        while (written < step.bytes.length) written += await writeAsync(this.journalFd, step.bytes, written);
        const started = performance.now();
        await fsyncAsync(this.journalFd);
        this.onJournalFsync?.(performance.now() - started, step.bytes.length);
        return;
      }
      case 'atomic':
        await writeAtomicallyAsync(this.directory, step.file, step.contents);
        return;
      case 'checkpoint':
        this.writeCheckpointInBackground(step.checkpoint);
        return;
      case 'await-checkpoint':
        while (this.durableCheckpointOpNumber < step.opNumber) {
          if (this.checkpointsWriting === 0) throw new Error(`invariant: release of op ${step.opNumber} before a checkpoint covers it`);
          await this.checkpointWrites;
          if (this.checkpointFailure !== null) throw this.checkpointFailure;
        }
        return;
      case 'remove-lost':
        await removeDurablyAsync(this.directory, LOST);
        return;
      case 'compact':
        closeSync(this.journalFd);
        await writeAtomicallyAsync(this.directory, JOURNAL, step.bytes);
        this.journalFd = openSync(join(this.directory, JOURNAL), 'a', FILE_MODE);
        return;
    }
  }

  /** What the store holds durably, as a boot event would hand it over. */
  snapshot(): { header: DurableHeader | null; checkpoint: Checkpoint | null; base: number; log: LogEntry[] } {
    return { header: this.header, checkpoint: this.checkpoint, base: this.log.base, log: [...this.log.log] };
  }

  /** Called after each journal fsync of `flushAsync` with its duration and the bytes it made durable (for metrics). */
  onJournalFsync: ((durationMs: number, bytes: number) => void) | null = null;

  /** True while `flushAsync` is writing. */
  get flushing(): boolean {
    return this.writing;
  }

  /** Resolves once no checkpoint is being written in the background. */
  async settle(): Promise<void> {
    while (this.checkpointsWriting > 0) await this.checkpointWrites;
  }

  private writeCheckpointInBackground(checkpoint: Checkpoint): void {
    this.checkpointsWriting++;
    this.checkpointWrites = this.checkpointWrites.then(async () => {
      try {
        if (this.closed || this.checkpointFailure !== null) return;
        await writeAtomicallyAsync(this.directory, CHECKPOINT, sealed(checkpoint));
        this.durableCheckpointOpNumber = Math.max(this.durableCheckpointOpNumber, checkpoint.opNumber);
      } catch (error) {
        this.checkpointFailure = error instanceof Error ? error : new Error(String(error));
      } finally {
        this.checkpointsWriting--;
      }
    });
  }

  /** Stops; buffered writes are dropped (as in a crash). Safe during `flushAsync`: see there. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    if (!this.writing) closeSync(this.journalFd);
  }

  /** The journal holding just the live log: a release that sets its base, then the live entries. */
  private liveJournal(): Buffer {
    const records: Buffer[] = [frame({ kind: 'log-release', opNumber: this.log.base })];
    for (const entry of this.log.log) records.push(frame({ kind: 'log-append', entry }));
    return Buffer.concat(records);
  }

  /** Replaces the journal with one holding just the live log (atomically). */
  private rewriteJournal(): void {
    this.runSync({ kind: 'compact', bytes: this.liveJournal() });
    this.journalRecords = this.log.log.length + 1;
  }
}

function frame(record: LogEffect): Buffer {
  const payload = Buffer.from(JSON.stringify(record), 'utf8');
  const header = Buffer.alloc(FRAME_BYTES);
  header.writeUInt32LE(payload.length, 0);
  header.writeUInt32LE(crc32(payload), 4);
  header.writeUInt32LE(crc32(header.subarray(0, 8)), 8);
  return Buffer.concat([header, payload]);
}

/**
 * A JSON document with the CRC32 of its body, so a damaged file is detected:
 * a first line `{"crc32":N}`, then the body. (The body is not nested in a
 * JSON string: escaping a large checkpoint again cost as much as encoding it.)
 */
function sealed(value: unknown): string {
  const body = JSON.stringify(value);
  return `${JSON.stringify({ crc32: crc32(body) })}\n${body}`;
}

function unseal<A>(directory: string, file: string, text: string, codec: t.Decoder<unknown, A>): A {
  const newline = text.indexOf('\n');
  let checksum: unknown;
  try {
    checksum = newline < 0 ? undefined : (JSON.parse(text.slice(0, newline)) as { crc32?: unknown }).crc32;
  } catch {
    checksum = undefined;
  }
  const body = text.slice(newline + 1);
  if (typeof checksum !== 'number' || checksum !== crc32(body)) throw new StoreDamage(`${file}: checksum mismatch`);
  const decoded = decodeJson(body, codec);
  if (isLeft(decoded)) throw new StoreIncompatible(join(directory, file), `the checksum is right but the contents do not decode (${decoded.left}): a format this build does not know`);
  return decoded.right;
}

/** Parses and decodes a document whose checksum was right; never throws. */
function decodeJson<A>(text: string, codec: t.Decoder<unknown, A>): Either<string, A> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return left(`not JSON: ${messageOf(error)}`);
  }
  return decodeWith(codec, json);
}

/** A journal record's payload (its checksum right) as a log effect, or why it does not decode. */
function decodeRecord(payload: Buffer): Either<string, LogEffect> {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    return left(`not JSON: ${messageOf(error)}`);
  }
  const kind = typeof json === 'object' && json !== null ? (json as { kind?: unknown }).kind : undefined;
  const kinds = Object.keys(JOURNAL_RECORD_CODECS) as Array<LogEffect['kind']>;
  const known = kinds.find((name) => name === kind);
  if (known === undefined) return left(`kind: expected one of ${kinds.join(', ')}, got ${JSON.stringify(kind) ?? 'undefined'}`);
  return decodeWith(JOURNAL_RECORD_CODECS[known], json);
}

/**
 * Reads the store. Throws a StoreDamage naming every damaged file, or a
 * StoreIncompatible as soon as a file does not decode: an incompatibility
 * wins over damage elsewhere, since it says every replica is in the same case.
 */
function load(directory: string): Loaded {
  const damages: string[] = [];
  const unlessDamaged = <A>(read: () => A): A | null => {
    try {
      return read();
    } catch (error) {
      if (!(error instanceof StoreDamage)) throw error;
      damages.push(error.message);
      return null;
    }
  };
  const readSealed = <A>(file: string, codec: t.Decoder<unknown, A>): A | null => {
    const path = join(directory, file);
    return existsSync(path) ? unseal(directory, file, readFileSync(path, 'utf8'), codec) : null;
  };
  const header = unlessDamaged(() => readSealed(HEADER, DurableHeader));
  const checkpoint = unlessDamaged(() => readSealed(CHECKPOINT, Checkpoint));
  const journal = unlessDamaged(() => readJournal(directory));
  if (damages.length > 0 || journal === null) throw new StoreDamage(damages.join('; '));
  if (header === null && (journal.log.log.length > 0 || checkpoint !== null)) {
    throw new StoreDamage(`${HEADER}: missing, although the store holds a log`);
  }
  return { ...journal, header, checkpoint };
}

/** Replays the journal; a record cut short at its end is a torn tail, anything else wrong throws. */
function readJournal(directory: string): { log: StoredLog; tornTail: boolean } {
  const path = join(directory, JOURNAL);
  const bytes = existsSync(path) ? readFileSync(path) : Buffer.alloc(0);
  const log: StoredLog = { base: 0, log: [] };
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + FRAME_BYTES > bytes.length) return { log, tornTail: true };
    const length = bytes.readUInt32LE(offset);
    const checksum = bytes.readUInt32LE(offset + 4);
    // The frame header has its own checksum, so a damaged length in the middle of the journal
    // is not mistaken for a record cut short at its end (which would drop every record after it).
    if (crc32(bytes.subarray(offset, offset + 8)) !== bytes.readUInt32LE(offset + 8)) {
      throw new StoreDamage(`${JOURNAL}: checksum mismatch in the frame header at byte ${offset}`);
    }
    if (offset + FRAME_BYTES + length > bytes.length) return { log, tornTail: true };
    const payload = bytes.subarray(offset + FRAME_BYTES, offset + FRAME_BYTES + length);
    if (crc32(payload) !== checksum) throw new StoreDamage(`${JOURNAL}: checksum mismatch in the record at byte ${offset}`);
    const decoded = decodeRecord(payload);
    if (isLeft(decoded)) {
      throw new StoreIncompatible(path, `the record at byte ${offset} has a right checksum but does not decode (${decoded.left}): a format this build does not know`);
    }
    const problem = applyLogEffect(log, decoded.right);
    if (problem !== null) throw new StoreDamage(`${JOURNAL}: ${problem} (record at byte ${offset})`);
    offset += FRAME_BYTES + length;
  }
  return { log, tornTail: false };
}

/** What a store's open finds: what it holds, or why it is refused as damaged. Throws a StoreIncompatible. */
function inspect(directory: string): Loaded | { damage: string } {
  if (existsSync(join(directory, LOST))) return { damage: 'a recovery from an earlier start has not completed' };
  try {
    return load(directory);
  } catch (error) {
    if (error instanceof StoreDamage) return { damage: error.message };
    throw error;
  }
}

function formatText(): string {
  return JSON.stringify({ formatVersion: FORMAT_VERSION } satisfies t.TypeOf<typeof FormatFile>);
}

/** Throws a StoreIncompatible unless format.json is JSON, exactly a FormatFile, of a version this build knows. */
function checkFormat(directory: string): void {
  const path = join(directory, FORMAT);
  const text = readFileSync(path, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new StoreIncompatible(path, `not valid JSON (${messageOf(error)})`);
  }
  const decoded = decodeWith(FormatFile, json);
  if (isLeft(decoded)) throw new StoreIncompatible(path, decoded.left);
  const version = decoded.right.formatVersion;
  if (!FORMAT_VERSIONS_SUPPORTED.includes(version)) {
    throw new StoreIncompatible(path, `format version ${version} is not supported by this build (supported: ${FORMAT_VERSIONS_SUPPORTED.join(', ')})`);
  }
  const known = Object.keys(FormatFile.type.props);
  const unknown = Object.keys(json as object).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new StoreIncompatible(path, unknown.map((key) => `${key}: unknown field (known: ${known.join(', ')})`).join('; '));
}

/** The directory to 0700 and the store's files to 0600, for a store made by an older version. */
function narrowModes(directory: string): void {
  const narrow = (path: string, mode: number) => {
    if (existsSync(path) && (statSync(path).mode & 0o777) !== mode) chmodSync(path, mode);
  };
  narrow(directory, DIRECTORY_MODE);
  for (const file of [...STORE_FILES, FORMAT, LOST]) narrow(join(directory, file), FILE_MODE);
}

/**
 * Moves the store's files into a new `damaged-<time>/` folder of the data
 * directory (never deleting them) and returns its path, or null if there was
 * nothing to move.
 */
function moveStoreAside(directory: string): string | null {
  const files = STORE_FILES.filter((file) => existsSync(join(directory, file)));
  if (files.length === 0) return null;
  const stamp = new Date().toISOString().replace(/:/g, '-');
  let folder = join(directory, `${DAMAGED_PREFIX}${stamp}`);
  for (let attempt = 1; existsSync(folder); attempt++) folder = join(directory, `${DAMAGED_PREFIX}${stamp}-${attempt}`);
  mkdirSync(folder, { mode: DIRECTORY_MODE });
  for (const file of files) renameSync(join(directory, file), join(folder, file));
  syncDirectory(folder);
  syncDirectory(directory);
  return folder;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function writeFully(fd: number, bytes: Buffer): void {
  let written = 0;
  while (written < bytes.length) written += writeSync(fd, bytes, written);
}

const writeAsync = (fd: number, bytes: Buffer, offset: number) =>
  new Promise<number>((resolve, reject) => write(fd, bytes, offset, bytes.length - offset, null, (error, written) => (error ? reject(error) : resolve(written))));
const fsyncAsync = (fd: number) => new Promise<void>((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));

async function syncDirectoryAsync(directory: string): Promise<void> {
  const handle = await fsPromises.open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `writeAtomically` without blocking the event loop. */
async function writeAtomicallyAsync(directory: string, file: string, contents: string | Buffer): Promise<void> {
  const temporary = join(directory, `${file}.tmp`);
  const handle = await fsPromises.open(temporary, 'w', FILE_MODE);
  try {
    await handle.chmod(FILE_MODE); // A temporary file left by an older version keeps its mode through 'w'.
    await handle.writeFile(contents);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsPromises.rename(temporary, join(directory, file));
  await syncDirectoryAsync(directory);
}

async function removeDurablyAsync(directory: string, file: string): Promise<void> {
  const path = join(directory, file);
  if (!existsSync(path)) return;
  await fsPromises.rm(path);
  await syncDirectoryAsync(directory);
}

/** Temporary file (mode 0600), fsync, rename over the old one, fsync the directory: all or nothing. */
function writeAtomically(directory: string, file: string, contents: string | Buffer): void {
  const temporary = join(directory, `${file}.tmp`);
  const fd = openSync(temporary, 'w', FILE_MODE);
  try {
    fchmodSync(fd, FILE_MODE); // A temporary file left by an older version keeps its mode through 'w'.
    writeFileSync(fd, contents);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, join(directory, file));
  syncDirectory(directory);
}

function syncDirectory(directory: string): void {
  const directoryFd = openSync(directory, 'r');
  try {
    fsyncSync(directoryFd);
  } finally {
    closeSync(directoryFd);
  }
}

function removeDurably(directory: string, file: string): void {
  const path = join(directory, file);
  if (!existsSync(path)) return;
  rmSync(path);
  syncDirectory(directory);
}

/** For tests and tools: the journal's size in bytes. */
export function journalBytes(directory: string): number {
  const path = join(directory, JOURNAL);
  return existsSync(path) ? statSync(path).size : 0;
}

/** The size of a data directory's checkpoint file (0 if none). */
export function checkpointBytes(directory: string): number {
  const path = join(directory, CHECKPOINT);
  return existsSync(path) ? statSync(path).size : 0;
}

/**
 * `FileStorage` in `directory` as a `ReplicaStore`, the default store of `startReplica`: its
 * flushes run on libuv's thread pool (`flushAsync`). Throws `StoreIncompatible` for a store
 * this build cannot read, having changed nothing.
 */
export function openFileStore(
  directory: string,
  options: OpenOptions & { readonly onJournalFsync?: ((durationMs: number, bytes: number) => void) | undefined } = {},
): ReplicaStore & { readonly files: FileStorage } {
  const { storage, report } = FileStorage.open(directory, options);
  storage.onJournalFsync = options.onJournalFsync ?? null;
  return {
    files: storage,
    report,
    apply: (effect) => storage.apply(effect),
    get dirty() {
      return storage.dirty;
    },
    flush: () => storage.flushAsync(),
    settle: () => storage.settle(),
    close: () => storage.close(),
  };
}
