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
import { Log, checkSegment } from './log.js';
import { Opaque } from './state.js';

export function checkpointOpNumber(s: { readonly checkpoint: Opaque<Checkpoint> | null }): number {
  return s.checkpoint?.value.opNumber ?? 0;
}

/** Called after executing `entry`: takes a checkpoint when the op is on the interval. */
export function maybeTakeCheckpoint(s: DraftState, ctx: StepContext, entry: LogEntry): void {
  if (entry.opNumber % ctx.config.limits.checkpointIntervalOps !== 0) return;
  const previous = checkpointOpNumber(s);
  const checkpoint: Checkpoint = {
    opNumber: entry.opNumber,
    viewNumber: entry.viewNumber,
    timestampMs: entry.timestampMs,
    snapshot: ctx.machine.snapshot(s.app.value),
    clientTable: s.clientTable.entries(),
  };
  s.checkpoint = new Opaque(checkpoint);
  ctx.emit({ kind: 'persist-checkpoint', checkpoint });
  if (previous > s.log.baseOpNumber) {
    s.log = s.log.releaseThrough(previous);
    ctx.emit({ kind: 'log-release', opNumber: previous });
  }
  ctx.telemetry(s, 'vsr.checkpoint.taken', { op: entry.opNumber, released: previous });
}

/** What log-carrying messages send: the checkpoint and the entries after it. */
export function logSuffix(s: DraftState): { checkpoint: Checkpoint | null; entries: LogEntry[] } {
  const base = checkpointOpNumber(s);
  return { checkpoint: s.checkpoint?.value ?? null, entries: s.log.between(base, s.log.lastOpNumber) };
}

/** Checks a checkpoint and the entries said to follow it. Returns a reason or null. */
export function checkSuffix(
  checkpoint: { readonly opNumber: number; readonly viewNumber: number } | null,
  entries: readonly LogEntry[],
  viewNumberMax: number,
): string | null {
  if (checkpoint !== null && checkpoint.viewNumber > viewNumberMax) {
    return `checkpoint at op ${checkpoint.opNumber} is from view ${checkpoint.viewNumber}, after view ${viewNumberMax}`;
  }
  return checkSegment(entries, checkpoint?.opNumber ?? 0, viewNumberMax);
}

/**
 * Checks what a DoViewChange, StartView or RecoveryResponse says of a log:
 * its op and commit numbers agree with the checkpoint and the entries after
 * it, and those form a well-formed log. Returns a reason naming `what`, or null.
 */
export function checkLogClaim(
  what: string,
  claim: { opNumber: number; commitNumber: number; checkpoint: { readonly opNumber: number; readonly viewNumber: number } | null; log: readonly LogEntry[] },
  viewNumberMax: number,
): string | null {
  const base = claim.checkpoint?.opNumber ?? 0;
  if (claim.opNumber !== base + claim.log.length) {
    return `${what} claims op ${claim.opNumber} but carries ${claim.log.length} entries after op ${base}`;
  }
  if (claim.commitNumber > claim.opNumber) return `${what} claims commit ${claim.commitNumber} beyond its op ${claim.opNumber}`;
  if (claim.commitNumber < base) return `${what} claims commit ${claim.commitNumber} before its checkpoint at op ${base}`;
  const segment = checkSuffix(claim.checkpoint, claim.log, viewNumberMax);
  return segment === null ? null : `${what} log is malformed: ${segment}`;
}

/**
 * Makes a checkpoint the replica's executed state: the application restored
 * from its snapshot, its client table, and every op it covers executed.
 * Returns why the application could not restore it (the state untouched).
 * The log is the caller's business.
 */
export function adoptCheckpoint(s: DraftState, ctx: StepContext, checkpoint: Checkpoint): string | null {
  let app: unknown;
  try {
    app = ctx.machine.restore(checkpoint.snapshot);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  s.checkpoint = new Opaque(checkpoint);
  s.app = new Opaque(app);
  s.clientTable = ClientTable.fromEntries(checkpoint.clientTable);
  s.commitNumber = checkpoint.opNumber;
  if (checkpoint.opNumber > s.commitNumberMax) s.commitNumberMax = checkpoint.opNumber;
  s.timestampMs = Math.max(s.timestampMs, checkpoint.timestampMs);
  return null;
}

/**
 * Replaces the application, the client table and the log with a checkpoint
 * from a peer that is ahead: the ops it covers are committed. Returns a
 * reason (the state untouched) if the application cannot restore it.
 */
export function installCheckpoint(s: DraftState, ctx: StepContext, checkpoint: Checkpoint): string | null {
  const opNumber = checkpoint.opNumber;
  const lastOpNumber = s.log.lastOpNumber;
  const failure = adoptCheckpoint(s, ctx, checkpoint);
  if (failure !== null) return `checkpoint at op ${opNumber} could not be restored: ${failure}`;
  ctx.emit({ kind: 'persist-checkpoint', checkpoint });
  ctx.emit({ kind: 'log-truncate', opNumber: Math.min(opNumber, lastOpNumber) });
  ctx.emit({ kind: 'log-release', opNumber });
  s.log = Log.fromEntries([], opNumber);
  s.repairOpNumber = null;
  ctx.telemetry(s, 'vsr.checkpoint.installed', { op: opNumber });
  return null;
}
