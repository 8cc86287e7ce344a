/**
 * A reference `ReplicaStore` in memory, written to the contract and nothing more, plus the
 * planted bugs that show the suite has teeth. Its "disk" outlives the store as a real disk
 * outlives a process: a journal of log effects (each record with its declared length and a
 * checksum, so a cut record and a changed one are told apart), a sealed header and checkpoint,
 * a format mark, a lost mark, and the records of a refused store moved aside.
 *
 * A flush takes a turn (as I/O would), then lands whole; a checkpoint is written in the
 * background, and a release waits until a checkpoint covering it has landed.
 */
import { applyLogEffect, type BootStorage, type Checkpoint, type DurableHeader, type Effect, type LogEffect, type StoredLog } from '@vsr/core';
import type { ReplicaStore } from '@vsr/runtime';
import type { StoreAdapter } from '../src/index.js';

/** A record as written: its declared length, its checksum, and the text that reached the disk. */
interface Sealed {
  readonly length: number;
  readonly checksum: number;
  text: string;
}

export interface MemoryDisk {
  formatted: boolean;
  lost: string | null;
  header: Sealed | null;
  checkpoint: Sealed | null;
  journal: Sealed[];
  /** Records of refused stores, moved aside (never deleted). */
  readonly movedAside: Sealed[][];
}

/** Bugs to plant, one at a time. */
export interface Bugs {
  /** A flush silently leaves out its last append. */
  readonly dropsLastAppend?: boolean;
  /** A release lands without waiting for its checkpoint. */
  readonly releaseBeforeCheckpoint?: boolean;
  /** Checksums are not checked at open. */
  readonly trustsChecksums?: boolean;
  /** A refused store is not marked lost: the next open finds an empty formatted store. */
  readonly forgetsLost?: boolean;
  /** A torn tail is dropped without saying so. */
  readonly hidesTornTail?: boolean;
  /** A flush lands its effects one at a time, a turn apart (an ordered prefix, not whole). */
  readonly landsPiecemeal?: boolean;
  /** Opening with `create` wipes a store that exists. */
  readonly createWipes?: boolean;
}

/** FNV-1a over UTF-16 code units: enough to tell a changed record from a good one. */
export function checksumOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

const seal = (value: unknown): Sealed => {
  const text = JSON.stringify(value);
  return { length: text.length, checksum: checksumOf(text), text };
};

export const emptyMemoryDisk = (): MemoryDisk => ({ formatted: false, lost: null, header: null, checkpoint: null, journal: [], movedAside: [] });

const pause = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

class Damage extends Error {}

function unseal(record: Sealed, name: string, bugs: Bugs): unknown {
  if (record.text.length !== record.length) throw new Damage(`${name}: cut short`);
  if (bugs.trustsChecksums !== true && checksumOf(record.text) !== record.checksum) throw new Damage(`${name}: checksum mismatch`);
  try {
    return JSON.parse(record.text);
  } catch {
    throw new Damage(`${name}: not JSON`);
  }
}

/** Replays the journal: a record cut short at its end is a torn tail (dropped), anything else wrong is damage. */
function replay(disk: MemoryDisk, bugs: Bugs): { log: StoredLog; tornTail: boolean } {
  const log: StoredLog = { base: 0, log: [] };
  const last = disk.journal.length - 1;
  const torn = last >= 0 && disk.journal[last] !== undefined && disk.journal[last].text.length < disk.journal[last].length;
  for (const [index, record] of disk.journal.entries()) {
    if (torn && index === last) break;
    const problem = applyLogEffect(log, unseal(record, `journal record ${index}`, bugs) as LogEffect);
    if (problem !== null) throw new Damage(`journal record ${index}: ${problem}`);
  }
  if (torn) disk.journal.pop();
  return { log, tornTail: torn && bugs.hidesTornTail !== true };
}

type Loaded = { log: StoredLog; tornTail: boolean; header: DurableHeader | null; checkpoint: Checkpoint | null };

function load(disk: MemoryDisk, bugs: Bugs): Loaded {
  const header = disk.header === null ? null : (unseal(disk.header, 'header', bugs) as DurableHeader);
  const checkpoint = disk.checkpoint === null ? null : (unseal(disk.checkpoint, 'checkpoint', bugs) as Checkpoint);
  const { log, tornTail } = replay(disk, bugs);
  if (header === null && (log.log.length > 0 || checkpoint !== null)) throw new Damage('header missing under a log');
  return { log, tornTail, header, checkpoint };
}

/** Refuses the store: its records moved aside, the lost mark set (unless the bug forgets it). */
function refuse(disk: MemoryDisk, reason: string, bugs: Bugs): string {
  const records = [disk.header, disk.checkpoint, ...disk.journal].filter((record): record is Sealed => record !== null);
  if (records.length > 0) disk.movedAside.push(records);
  Object.assign(disk, { header: null, checkpoint: null, journal: [], formatted: true, lost: bugs.forgetsLost === true ? null : reason });
  return records.length > 0 ? `${reason}; ${records.length} records moved aside` : reason;
}

function open(disk: MemoryDisk, create: boolean, bugs: Bugs): { loaded: Loaded; report: ReplicaStore['report'] } {
  const empty: Loaded = { log: { base: 0, log: [] }, tornTail: false, header: null, checkpoint: null };
  const lost = (damage: string) => ({ loaded: empty, report: { boot: { lost: true as const, nonce: 7 }, tornTail: false, damage: refuse(disk, damage, bugs) } });
  if (create && bugs.createWipes === true) Object.assign(disk, emptyMemoryDisk(), { movedAside: disk.movedAside });
  if (!disk.formatted && create) {
    disk.formatted = true;
    return { loaded: empty, report: { boot: null, tornTail: false, damage: null } };
  }
  if (!disk.formatted) return lost('no store here (lost, or never created with the cluster)');
  if (disk.lost !== null) return lost('a recovery from an earlier start has not completed');
  try {
    const loaded = load(disk, bugs);
    const boot: BootStorage = loaded.header === null ? null : { header: loaded.header, checkpoint: loaded.checkpoint, log: [...loaded.log.log] };
    return { loaded, report: { boot, tornTail: loaded.tornTail, damage: null } };
  } catch (error) {
    if (error instanceof Damage) return lost(error.message);
    throw error;
  }
}

export class ReferenceStore implements ReplicaStore {
  readonly report: ReplicaStore['report'];
  private buffered: Effect[] = [];
  private crashed = false;
  /** The op of the newest checkpoint on the disk, and the background writes under way. */
  private durableCheckpointOp: number;
  private checkpointWrites: Promise<void> = Promise.resolve();

  constructor(
    private readonly disk: MemoryDisk,
    create: boolean,
    private readonly bugs: Bugs = {},
  ) {
    const { loaded, report } = open(disk, create, bugs);
    this.report = report;
    this.durableCheckpointOp = loaded.checkpoint?.opNumber ?? 0;
  }

  apply(effect: Effect): void {
    if (['log-append', 'log-truncate', 'log-release', 'persist-header', 'persist-checkpoint'].includes(effect.kind)) this.buffered.push(effect);
  }

  get dirty(): boolean {
    return this.buffered.length > 0;
  }

  async flush(): Promise<void> {
    const taken = this.buffered;
    this.buffered = [];
    await pause(); // I/O takes a turn.
    if (this.crashed) return;
    for (const effect of taken) if (effect.kind === 'persist-checkpoint') this.writeCheckpointInBackground(effect.checkpoint);
    const writes = this.withBugs(taken.filter((effect) => effect.kind !== 'persist-checkpoint'));
    const releaseOp = Math.max(0, ...writes.map((effect) => (effect.kind === 'log-release' ? effect.opNumber : 0)));
    if (this.bugs.releaseBeforeCheckpoint !== true) while (this.durableCheckpointOp < releaseOp && !this.crashed) await this.checkpointWrites;
    for (const effect of writes) {
      if (this.crashed) return;
      if (this.bugs.landsPiecemeal === true) await pause();
      this.land(effect);
    }
  }

  settle(): Promise<void> {
    return this.checkpointWrites;
  }

  close(): void {
    this.crashed = true;
    this.buffered = [];
  }

  /** Abandons the store: buffered effects and flushes that have not landed are lost. */
  crash(): void {
    this.close();
  }

  private withBugs(writes: Effect[]): Effect[] {
    if (this.bugs.dropsLastAppend !== true) return writes;
    const last = writes.map((effect) => effect.kind).lastIndexOf('log-append');
    return writes.filter((_, index) => index !== last);
  }

  private land(effect: Effect): void {
    if (effect.kind === 'persist-header') {
      this.disk.header = seal(effect.header);
      this.disk.lost = null; // Recovered: from now on the store boots normally.
    } else if (effect.kind === 'log-append' || effect.kind === 'log-truncate' || effect.kind === 'log-release') {
      this.disk.journal.push(seal(effect));
    }
  }

  private writeCheckpointInBackground(checkpoint: Checkpoint): void {
    this.checkpointWrites = this.checkpointWrites.then(async () => {
      await pause();
      if (this.crashed) return;
      this.disk.checkpoint = seal(checkpoint);
      this.durableCheckpointOp = Math.max(this.durableCheckpointOp, checkpoint.opNumber);
    });
  }
}

/** Cuts the last journal record short, keeping at least one character and dropping at least one. */
function tear(disk: MemoryDisk, choice: number): void {
  const last = disk.journal[disk.journal.length - 1];
  if (last === undefined || last.length < 2) throw new Error('nothing to tear');
  last.text = last.text.slice(0, 1 + (choice % (last.length - 1)));
}

/** Changes one character of a record (a digit to another digit, anything else to the next code unit), leaving its checksum. */
function corrupt(disk: MemoryDisk, choice: number): string {
  const records = [disk.header, disk.checkpoint, ...disk.journal].filter((record): record is Sealed => record !== null);
  const record = records[choice % records.length];
  if (record === undefined) return 'nothing (the store holds no record)';
  const at = Math.floor(choice / records.length) % record.text.length;
  const old = record.text.charAt(at);
  const replacement = /\d/.test(old) ? String((Number(old) + 1) % 10) : String.fromCharCode(old.charCodeAt(0) + 1);
  record.text = record.text.slice(0, at) + replacement + record.text.slice(at + 1);
  return `character ${at} of record ${choice % records.length} of ${records.length}: ${JSON.stringify(old)} → ${JSON.stringify(replacement)}`;
}

/** The reference store (or one with a planted bug) as a conformance adapter. */
export function referenceAdapter(bugs: Bugs = {}, name = 'the reference memory store'): StoreAdapter<MemoryDisk, ReferenceStore> {
  return {
    name,
    place: emptyMemoryDisk,
    open: (disk, { create }) => new ReferenceStore(disk, create, bugs),
    crash: (store) => store.crash(),
    flushAtomicity: bugs.landsPiecemeal === true ? 'ordered-prefix' : 'whole',
    tearTail: tear,
    corrupt,
  };
}
