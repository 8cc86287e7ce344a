/**
 * State transfer within a view (VR Revisited §5.2, design rule 6 of docs/protocol.md): a backup
 * that lacks ops (a Prepare arrived after a gap, or the commit number ran
 * ahead of its log) asks the primary for the entries after its last op. It
 * never executes past what it holds. A backup behind the primary's checkpoint
 * receives the checkpoint, then the entries after it (snapshot transfer, §5).
 * Learning of a later view is handled by from-primary.ts: the replica joins
 * that view and installs its log from StartView, so it never truncates
 * committed ops on a guess.
 */
import type { GetState, NewState } from './messages.js';
import type { DraftState, StepContext } from './context.js';
import { checkSegment } from './log.js';
import { primaryOf } from './quorum.js';
import { checkpointOpNumber, installCheckpoint } from './checkpoint.js';
import { executeCommitted } from './execute.js';
import { sendPrepareOk } from './acknowledge.js';
import { checkNewState, reachesPrimaryWithinLog } from './message-checks.js';
import { describeInput } from './describe-input.js';
import { assert, defined } from './assert.js';

/**
 * A backup learns a commit number from the primary (Prepare, Commit, NewState): it executes
 * what that commits among the ops it holds, and asks for the rest. Returns true when the log
 * still lacks committed ops, so a GetState is outstanding.
 */
export function learnCommit(s: DraftState, ctx: StepContext, commitNumber: number): boolean {
  // The primary learns commits from its quorum, never from a message: only a backup gets here.
  assert(s.status === 'normal' && s.primary === null, 'a backup learns the commit number from its primary');
  if (commitNumber > s.commitNumberMax) s.commitNumberMax = commitNumber;
  executeCommitted(s, ctx);
  if (s.commitNumberMax <= s.log.lastOpNumber) return false;
  requestRepair(s, ctx);
  return true;
}

/** Asks the primary for what this backup lacks, unless a request for the same point is outstanding. */
export function requestRepair(s: DraftState, ctx: StepContext): void {
  if (s.status !== 'normal' || s.primary !== null) return;
  const lastOp = s.log.lastOpNumber;
  if (s.repairOpNumber === lastOp) return;
  s.repairOpNumber = lastOp;
  ctx.send(s, primaryOf(s.viewNumber, ctx.replicaCount), { type: 'get-state', opNumber: lastOp });
  ctx.telemetry(s, 'vsr.state_transfer.request_sent', { afterOpNumber: lastOp });
  ctx.setTimer('repair-retry');
}

export function onRepairRetryTimeout(s: DraftState, ctx: StepContext): void {
  if (s.status !== 'normal' || s.primary !== null || s.repairOpNumber === null) return;
  s.repairOpNumber = null;
  if (s.commitNumberMax > s.log.lastOpNumber) requestRepair(s, ctx);
}

/** The primary answers with up to `stateTransferEntriesMax` entries after the backup's op. */
export function onGetState(s: DraftState, ctx: StepContext, m: GetState): void {
  // Ignorable: another view, another status, a replica that is not the primary, an op it lacks.
  if (!reachesPrimaryWithinLog(s, ctx, m)) return;
  assert(s.primary !== null && m.replica !== ctx.self, 'GetState reaches the primary of its view from a backup');
  ctx.telemetry(s, 'vsr.state_transfer.request_received', { from: m.replica, afterOpNumber: m.opNumber });
  // Behind our checkpoint, the ops it covers may be gone: send the checkpoint and what follows.
  const behind = m.opNumber < checkpointOpNumber(s) || m.opNumber < s.log.baseOpNumber;
  const after = behind ? checkpointOpNumber(s) : m.opNumber;
  const checkpoint = behind ? defined(s.checkpoint, 'a checkpoint, since the requester is behind it').value : null;
  const entries = s.log.between(after, after + ctx.config.limits.stateTransferEntriesMax);
  // The answer is a segment of this log right after `after`, which the asker can check and append.
  assert(entries.length === Math.min(ctx.config.limits.stateTransferEntriesMax, s.log.lastOpNumber - after), 'NewState carries the entries right after its op');
  ctx.send(s, m.replica, { type: 'new-state', opNumber: after, commitNumber: s.commitNumber, checkpoint, entries });
  ctx.telemetry(s, 'vsr.state_transfer.sent', { to: m.replica, afterOpNumber: after, entries: entries.length, checkpoint: behind });
}

/**
 * A backup appends what it lacked (the primary's log extends its own within a
 * view). A long gap arrives in chunks: the commit number may run ahead of
 * the entries, and the backup asks again until it holds everything.
 */
export function onNewState(s: DraftState, ctx: StepContext, m: NewState): void {
  const problem = checkNewState(m);
  if (problem !== null) {
    ctx.reject(s, problem, describeInput(m));
    return;
  }
  assert(s.status === 'normal' && s.primary === null && m.viewNumber === s.viewNumber, 'a NewState reaches a backup of its view');
  ctx.setTimer('primary-timeout');
  if (m.checkpoint !== null && m.checkpoint.opNumber > s.commitNumber) {
    const reason = installCheckpoint(s, ctx, m.checkpoint);
    if (reason !== null) {
      ctx.reject(s, reason, describeInput(m));
      return;
    }
  }
  const lastOp = s.log.lastOpNumber;
  if (m.opNumber > lastOp) return; // Answers an older request and still leaves a gap.
  ctx.telemetry(s, 'vsr.state_transfer.received', { afterOpNumber: m.opNumber, entries: m.entries.length });
  const fresh = m.entries.slice(lastOp - m.opNumber);
  if (fresh.length > 0) {
    const segmentProblemHere = checkSegment(fresh, lastOp, s.viewNumber, s.log.entryAt(lastOp));
    if (segmentProblemHere !== null) {
      ctx.reject(s, `NewState does not extend the log: ${segmentProblemHere}`, describeInput(m));
      return;
    }
    let requests = 0;
    for (const entry of fresh) {
      s.log = s.log.append(entry);
      s.timestampMs = entry.timestampMs;
      ctx.emit({ kind: 'log-append', entry });
      requests += entry.requests.length;
    }
    ctx.telemetry(s, 'vsr.log.append', { entries: fresh.length, requests });
    sendPrepareOk(s, ctx);
  }
  s.repairOpNumber = null;
  if (!learnCommit(s, ctx, m.commitNumber)) ctx.cancelTimer('repair-retry');
  assert(s.commitNumber <= s.log.lastOpNumber, 'a backup executes only ops it holds');
}
