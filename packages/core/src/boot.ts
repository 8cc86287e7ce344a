/**
 * Boot: the first event hands the reducer what storage holds (design rule 8 of docs/protocol.md).
 * A fresh replica starts in view 0. A replica with storage resumes its view as a backup (it lost
 * its commit number and application state, and re-executes as commits arrive); a replica that
 * was primary, or was changing views, starts a view change, because it cannot know what its old
 * view committed. A replica whose storage is lost recovers (recovery.ts).
 */
import { noReads } from './reads.js';
import type { DraftState, StepContext } from './context.js';
import { decodeWith } from './codec.js';
import { BootStorage } from './effects.js';
import type { Checkpoint, DurableHeader, LogEntry } from './messages.js';
import { Log, checkSegment } from './log.js';
import { InFlightRequests } from './client-table.js';
import { RequestQueue } from './request-queue.js';
import { adoptCheckpoint, checkpointOpNumber } from './checkpoint.js';
import { becomeNormal } from './become-normal.js';
import { startViewChange } from './view-change.js';
import { beginRecovery } from './recovery.js';
import { assert } from './assert.js';

export function onBoot(s: DraftState, ctx: StepContext, rawStorage: unknown): void {
  if (s.status !== 'booting') {
    ctx.reject(s, 'boot: the replica has already booted', 'boot');
    return;
  }
  const decoded = decodeWith(BootStorage, rawStorage, 'boot.storage');
  if (decoded._tag === 'Left') {
    ctx.reject(s, decoded.left, 'boot');
    return;
  }
  const storage = decoded.right;
  // Booting finds the state as initialState made it: nothing of a previous life is in memory.
  assert(s.log.lastOpNumber === 0 && s.commitNumber === 0 && s.checkpoint === null, 'a booting replica holds nothing yet');
  if (storage !== null && 'lost' in storage) {
    beginRecovery(s, ctx, storage.nonce);
    return;
  }
  if (storage === null) {
    becomeNormal(s, ctx, 'first-boot', 0);
    takeRole(s, ctx);
    return;
  }
  if (!restore(s, ctx, storage.header, storage.checkpoint ?? null, storage.log)) return;
  const { header } = storage;
  if (header.viewNumber > header.lastNormalView || ctx.isPrimaryOf(header.viewNumber)) {
    startViewChange(s, ctx, header.viewNumber + (header.viewNumber > header.lastNormalView ? 0 : 1));
    return;
  }
  becomeNormal(s, ctx, 'restart', s.commitNumber);
  takeRole(s, ctx);
}

/**
 * Takes what storage holds: the checkpoint as executed state, the entries after it as the log,
 * the header's views. False, after rejecting the boot with nothing changed, if it is unusable.
 */
function restore(s: DraftState, ctx: StepContext, header: DurableHeader, checkpoint: Checkpoint | null, stored: readonly LogEntry[]): boolean {
  const base = checkpoint?.opNumber ?? 0;
  // Entries at or before the checkpoint may linger (a crash between writing
  // a checkpoint and releasing the log); the checkpoint covers them.
  const log = stored.filter((entry) => entry.opNumber > base);
  if (header.lastNormalView > header.viewNumber) {
    ctx.reject(s, 'boot.storage.header: last normal view is after the view', 'boot');
    return false;
  }
  // Entries may come from views after the header's last normal view: a crash
  // can keep a StartView's log writes but lose the header write after them.
  // The replica then claims only the older last normal view, which is safe:
  // its log still holds every op committed up to that view.
  const segment = checkSegment(log, base, Number.MAX_SAFE_INTEGER);
  if (segment !== null) {
    ctx.reject(s, `boot.storage.log: ${segment}`, 'boot');
    return false;
  }
  if (checkpoint !== null) {
    // Ops up to the checkpoint are committed and executed: the checkpoint is their result.
    const failure = adoptCheckpoint(s, ctx, checkpoint);
    if (failure !== null) {
      ctx.reject(s, `boot.storage.checkpoint: could not be restored (${failure})`, 'boot');
      return false;
    }
  }
  s.log = Log.fromEntries(log, base);
  if (stored.length > log.length) ctx.emit({ kind: 'log-release', opNumber: base });
  s.timestampMs = log.at(-1)?.timestampMs ?? checkpoint?.timestampMs ?? 0;
  s.viewNumber = header.viewNumber;
  s.lastNormalView = header.lastNormalView;
  // What is executed is exactly what the checkpoint covers: the log after it waits for commits.
  assert(s.commitNumber === base && checkpointOpNumber(s) === base, 'a restored replica has executed exactly its checkpoint');
  return true;
}

/**
 * On a first boot the primary of view 0 leads. Every other replica waits to hear from the primary,
 * and so does every restarted one: a restarted primary changes views instead.
 */
function takeRole(s: DraftState, ctx: StepContext): void {
  assert(s.status === 'normal' && s.primary === null, 'a replica takes its role once normal');
  if (ctx.isPrimaryOf(s.viewNumber)) {
    s.primary = { pipeline: [], queue: RequestQueue.EMPTY, inFlight: InFlightRequests.EMPTY, reads: noReads(ctx.replicaCount) };
    ctx.telemetry(s, 'vsr.leadership.start');
    ctx.setTimer('heartbeat');
  } else {
    ctx.setTimer('primary-timeout');
  }
}
