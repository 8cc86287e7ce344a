/**
 * Checkpoints (VR Revisited §5): every `checkpointIntervalOps` ops, each
 * replica captures the application (its `snapshot`) and the client table,
 * deterministically, right after executing the op. Taking checkpoint k
 * releases the log up to the previous checkpoint, so memory and storage
 * hold at most two intervals of entries. Messages that carry a log
 * (DoViewChange, StartView, NewState, RecoveryResponse) carry the sender's
 * checkpoint and the entries after it, so a receiver that is behind the
 * checkpoint installs it instead of ops it can no longer get. DoViewChange
 * and StartView name it without its contents to a receiver that reported a
 * checkpoint at least as recent (view-change.ts), and NewState includes it
 * only for an asker behind it (state-transfer.ts).
 */
import type { DraftState, StepContext } from './context.js';
import type { Checkpoint, LogEntry } from './messages.js';
import { ClientTable } from './client-table.js';
import { Log } from './log.js';
import { Opaque, type StateMachine } from './state.js';
import { assert } from './assert.js';

export function checkpointOpNumber(s: { readonly checkpoint: Opaque<Checkpoint> | null }): number {
  return s.checkpoint?.value.opNumber ?? 0;
}

/** Called after executing `entry`: takes a checkpoint when the op is on the interval. */
export function maybeTakeCheckpoint(s: DraftState, ctx: StepContext, entry: LogEntry): void {
  if (entry.opNumber % ctx.config.limits.checkpointIntervalOps !== 0) return;
  const previous = checkpointOpNumber(s);
  // The snapshot is of the application right after this op: it must be the op just executed.
  assert(entry.opNumber === s.commitNumber && previous < entry.opNumber, () => `checkpoint at op ${entry.opNumber} after executing op ${s.commitNumber}, the previous at ${previous}`);
  const snapshotVersion = ctx.machine.snapshotVersion ?? 0;
  const checkpoint: Checkpoint = {
    opNumber: entry.opNumber,
    viewNumber: entry.viewNumber,
    timestampMs: entry.timestampMs,
    snapshot: ctx.machine.snapshot(s.app.value),
    clientTable: s.clientTable.entries(),
    // Version 0 is left out, so a machine that never versions its snapshots writes what it always wrote.
    ...(snapshotVersion === 0 ? {} : { snapshotVersion }),
  };
  s.checkpoint = new Opaque(checkpoint);
  ctx.emit({ kind: 'persist-checkpoint', checkpoint });
  if (previous > s.log.baseOpNumber) {
    s.log = s.log.releaseThrough(previous);
    ctx.emit({ kind: 'log-release', opNumber: previous });
  }
  // Never past the previous checkpoint, so every entry after this one is still held: messages
  // that carry the log send the checkpoint and those entries (logSuffix).
  assert(s.log.baseOpNumber <= previous, 'the log is released up to the previous checkpoint at most');
  ctx.telemetry(s, 'vsr.checkpoint.taken', { opNumber: entry.opNumber, releasedOpNumber: previous });
}

/** What log-carrying messages send: the checkpoint and the entries after it. */
export function logSuffix(s: DraftState): { checkpoint: Checkpoint | null; entries: LogEntry[] } {
  const base = checkpointOpNumber(s);
  // The log still holds every entry after the checkpoint (it is released only up to a checkpoint).
  assert(s.log.baseOpNumber <= base, () => `the log starts after op ${s.log.baseOpNumber}, past the checkpoint at op ${base}`);
  return { checkpoint: s.checkpoint?.value ?? null, entries: s.log.between(base, s.log.lastOpNumber) };
}

/**
 * Makes a checkpoint the replica's executed state: the application restored
 * from its snapshot, its client table, and every op it covers executed.
 * Returns why the application could not restore it (the state untouched).
 * The log is the caller's business.
 */
export function adoptCheckpoint(s: DraftState, ctx: StepContext, checkpoint: Checkpoint): string | null {
  // Replacing executed state with an older one would execute its ops a second time.
  assert(checkpoint.opNumber >= s.commitNumber, () => `adopting checkpoint ${checkpoint.opNumber} after executing op ${s.commitNumber}`);
  let app: unknown;
  try {
    const snapshot = currentSnapshot(ctx.machine, checkpoint);
    if (!snapshot.ok) return snapshot.reason;
    app = ctx.machine.restore(snapshot.snapshot);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  s.checkpoint = new Opaque(checkpoint);
  s.app = new Opaque(app);
  s.clientTable = ClientTable.fromEntries(checkpoint.clientTable);
  s.commitNumber = checkpoint.opNumber;
  if (checkpoint.opNumber > s.commitNumberMax) s.commitNumberMax = checkpoint.opNumber;
  s.timestampMs = Math.max(s.timestampMs, checkpoint.timestampMs);
  assert(s.commitNumber <= s.commitNumberMax, 'a checkpoint covers committed ops only');
  return null;
}

/**
 * The checkpoint's snapshot in the machine's current version: as it is, migrated from an older
 * version, or a reason it cannot be (a newer version, or an older one without `migrate`).
 * `migrate` may throw: the caller turns that into a reason too.
 */
function currentSnapshot(machine: StateMachine, checkpoint: Checkpoint): { ok: true; snapshot: unknown } | { ok: false; reason: string } {
  const fromVersion = checkpoint.snapshotVersion ?? 0;
  const version = machine.snapshotVersion ?? 0;
  if (fromVersion === version) return { ok: true, snapshot: checkpoint.snapshot };
  if (fromVersion > version) {
    return { ok: false, reason: `its snapshot is version ${fromVersion}, newer than this machine's ${machine.name} (version ${version}): upgrade this replica's machine` };
  }
  if (machine.migrate === undefined) {
    return { ok: false, reason: `its snapshot is version ${fromVersion}, and the machine ${machine.name} (version ${version}) has no migrate to bring it to ${version}` };
  }
  return { ok: true, snapshot: machine.migrate(checkpoint.snapshot, fromVersion) };
}

/**
 * Replaces the application and the client table with a checkpoint from a
 * peer that is ahead (the ops it covers are committed), and releases the log
 * through it; entries after it are kept for the caller to reconcile with
 * the log it installs. Returns a reason (the state untouched) if the
 * application cannot restore it.
 */
export function installCheckpoint(s: DraftState, ctx: StepContext, checkpoint: Checkpoint): string | null {
  const opNumber = checkpoint.opNumber;
  const lastOpNumber = s.log.lastOpNumber;
  // Callers install only a checkpoint ahead of what this replica executed (else it has nothing to add).
  assert(opNumber > s.commitNumber, () => `installing checkpoint ${opNumber} at commit ${s.commitNumber}`);
  const failure = adoptCheckpoint(s, ctx, checkpoint);
  if (failure !== null) return `checkpoint at op ${opNumber} could not be restored: ${failure}`;
  ctx.emit({ kind: 'persist-checkpoint', checkpoint });
  if (lastOpNumber > opNumber) {
    // The entries after the checkpoint stay: the caller compares them with the log it installs and
    // truncates only where the two differ. Truncating them here would let their loss reach the
    // disk ahead of the checkpoint (which the release waits for) and of the entries that replace
    // them: a crash in between would leave a log shorter than the one its header's last normal
    // view vouches for, and a view change could then choose it over committed ops.
    ctx.emit({ kind: 'log-release', opNumber });
    s.log = s.log.releaseThrough(opNumber);
  } else {
    ctx.emit({ kind: 'log-truncate', opNumber: lastOpNumber });
    ctx.emit({ kind: 'log-release', opNumber });
    s.log = Log.fromEntries([], opNumber);
  }
  s.repairOpNumber = null;
  assert(s.commitNumber === opNumber && s.log.baseOpNumber === opNumber, 'after installing a checkpoint the log starts at its op');
  assert(s.log.lastOpNumber === Math.max(opNumber, lastOpNumber), 'installing a checkpoint keeps the entries after it');
  ctx.telemetry(s, 'vsr.checkpoint.installed', { opNumber: opNumber });
  return null;
}
