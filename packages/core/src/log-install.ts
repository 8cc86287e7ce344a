/**
 * Installing a log a view starts from (StartView at a backup, the chosen DoViewChange log at the
 * new primary, the primary's log at a recovering replica): given as a checkpoint and the entries
 * after it, it replaces this replica's log wherever the two differ, but never an op this replica
 * executed (design rule 7 of docs/protocol.md: only uncommitted entries are ever truncated).
 */
import type { DraftState, StepContext } from './context.js';
import { isCheckpointReference, type Checkpoint, type CheckpointReference, type LogEntry } from './messages.js';
import { installCheckpoint } from './checkpoint.js';
import { assert, defined } from './assert.js';

/**
 * Makes this replica's log the log a view starts from, given as a checkpoint
 * and the entries after it. Behind the checkpoint, the replica installs it.
 * Returns a reason, with nothing changed, if the log contradicts an op this
 * replica executed or the checkpoint cannot be restored.
 */
export function installSuffix(
  s: DraftState,
  ctx: StepContext,
  checkpoint: Checkpoint | CheckpointReference | null,
  entries: readonly LogEntry[],
): string | null {
  const base = checkpoint?.opNumber ?? 0;
  if (base > s.commitNumber) {
    // Every op we executed is below the checkpoint, which covers committed ops only.
    const given = defined(checkpoint, 'a checkpoint, since the base is above 0');
    if (isCheckpointReference(given)) {
      // Sent on the word of a checkpoint this replica reported; it does not hold it (yet).
      return `names checkpoint ${base} without its contents, but this replica has executed only up to op ${s.commitNumber}`;
    }
    const reason = installCheckpoint(s, ctx, given);
    if (reason !== null) return reason;
  } else {
    const conflict = conflictWithExecuted(s, entries, base);
    if (conflict !== null) return conflict;
  }
  installLog(s, ctx, entries, base);
  assert(s.log.lastOpNumber === base + entries.length, 'the installed log ends where the given one does');
  return null;
}

/**
 * A log that disagrees with an op this replica already executed would undo a
 * committed op; correct peers never send one. Entries are identified by (op,
 * view): the same op number prepared in the same view is the same op, and
 * logs that agree at an op agree before it.
 */
function conflictWithExecuted(s: DraftState, log: readonly LogEntry[], base: number): string | null {
  if (s.commitNumber <= base) return null; // Their checkpoint covers everything we executed.
  const ours = s.log.entryAt(s.commitNumber);
  const theirs = log[s.commitNumber - base - 1];
  // A log that ends before our commit number is refused even when our own entry is released:
  // installing it would truncate executed ops.
  if (theirs === undefined) return `lacks op ${s.commitNumber}, which this replica executed`;
  if (ours === undefined) return null; // Released: our own checkpoint covers it.
  if (theirs.viewNumber !== ours.viewNumber) {
    return `disagrees at op ${s.commitNumber}, which this replica executed (view ${theirs.viewNumber}, not ${ours.viewNumber})`;
  }
  return null;
}

/**
 * Makes the log after op `base` equal to `entries` (which follow op `base`):
 * truncates where they diverge, appends the rest. Ops this replica executed
 * are committed and equal in both; the comparison starts after them.
 */
function installLog(s: DraftState, ctx: StepContext, entries: readonly LogEntry[], base = 0): void {
  const ourLast = s.log.lastOpNumber;
  const theirLast = base + entries.length;
  // The caller has checked that the given log holds every op this replica executed.
  assert(theirLast >= s.commitNumber, () => `installing a log ending at op ${theirLast} below commit ${s.commitNumber}`);
  const common = Math.min(ourLast, theirLast);
  const theirs = (opNumber: number) => defined(entries[opNumber - base - 1], () => `op ${opNumber} in the log installed after ${base}`);
  let divergeAt = common + 1;
  for (let opNumber = Math.max(s.commitNumber, base, s.log.baseOpNumber) + 1; opNumber <= common; opNumber++) {
    if (defined(s.log.entryAt(opNumber), () => `op ${opNumber} in our log`).viewNumber !== theirs(opNumber).viewNumber) {
      divergeAt = opNumber;
      break;
    }
  }
  if (divergeAt <= ourLast) {
    assert(divergeAt - 1 >= s.commitNumber, () => `truncating after op ${divergeAt - 1}, below commit ${s.commitNumber}: an executed op`);
    s.log = s.log.truncateAfter(divergeAt - 1);
    ctx.emit({ kind: 'log-truncate', opNumber: divergeAt - 1 });
    ctx.telemetry(s, 'vsr.log.truncate', { removed: ourLast - (divergeAt - 1) });
  }
  let appended = 0;
  let requests = 0;
  for (let opNumber = Math.max(divergeAt, base + 1); opNumber <= theirLast; opNumber++) {
    const entry = theirs(opNumber);
    s.log = s.log.append(entry);
    ctx.emit({ kind: 'log-append', entry });
    appended++;
    requests += entry.requests.length;
  }
  // A view change or a recovery installs entries as a Prepare appends one: the same event.
  if (appended > 0) ctx.telemetry(s, 'vsr.log.append', { entries: appended, requests });
  const last = s.log.entryAt(s.log.lastOpNumber);
  s.timestampMs = Math.max(s.timestampMs, last?.timestampMs ?? 0);
}
