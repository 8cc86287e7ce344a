/**
 * State transfer within a view (VR Revisited §5.2, design rule 6 of docs/protocol.md): a backup
 * that lacks ops (a Prepare arrived after a gap, or the commit number ran
 * ahead of its log) asks the primary for the entries after its last op. It
 * never executes past what it holds. Learning of a later view is handled by
 * the view change module: the replica joins that view and installs its log
 * from StartView, so it never truncates committed ops on a guess.
 *
 * Checkpoints and snapshot transfer build on this in a later step.
 */
import type { GetState, NewState } from './messages.js';
import type { DraftState, StepContext } from './context.js';
import { checkSegment } from './log.js';
import { checkpointOpNumber, installCheckpoint } from './checkpoint.js';
import { executeCommitted } from './execute.js';
import { describeInput, reachesPrimaryWithinLog, sendPrepareOk } from './normal.js';
import { defined } from './assert.js';

/** Asks the primary for what this backup lacks, unless a request for the same point is outstanding. */
export function requestRepair(s: DraftState, ctx: StepContext): void {
  if (s.status !== 'normal' || s.primary !== null) return;
  const lastOp = s.log.lastOpNumber;
  if (s.repairOpNumber === lastOp) return;
  s.repairOpNumber = lastOp;
  ctx.send(s, s.viewNumber % ctx.replicaCount, { type: 'get-state', opNumber: lastOp });
  ctx.telemetry(s, 'vsr.state_transfer.request_sent', { after: lastOp });
  ctx.setTimer('repair-retry');
}

export function onRepairRetryTimeout(s: DraftState, ctx: StepContext): void {
  if (s.status !== 'normal' || s.primary !== null || s.repairOpNumber === null) return;
  s.repairOpNumber = null;
  if (s.commitNumberMax > s.log.lastOpNumber) requestRepair(s, ctx);
}

/** The primary answers with up to `stateTransferEntriesMax` entries after the backup's op. */
export function onGetState(s: DraftState, ctx: StepContext, m: GetState): void {
  if (!reachesPrimaryWithinLog(s, ctx, m)) return;
  ctx.telemetry(s, 'vsr.state_transfer.request_received', { from: m.replica, after: m.opNumber });
  // Behind our checkpoint, the ops it covers may be gone: send the checkpoint and what follows.
  const behind = m.opNumber < checkpointOpNumber(s) || m.opNumber < s.log.baseOpNumber;
  const after = behind ? checkpointOpNumber(s) : m.opNumber;
  const checkpoint = behind ? defined(s.checkpoint, 'a checkpoint, since the requester is behind it').value : null;
  const entries = s.log.between(after, after + ctx.config.limits.stateTransferEntriesMax);
  ctx.send(s, m.replica, { type: 'new-state', opNumber: after, commitNumber: s.commitNumber, checkpoint, entries });
  ctx.telemetry(s, 'vsr.state_transfer.sent', { to: m.replica, after, entries: entries.length, checkpoint: behind });
}

/**
 * A backup appends what it lacked (the primary's log extends its own within a
 * view). A long gap arrives in chunks: the commit number may run ahead of
 * the entries, and the backup asks again until it holds everything.
 */
export function onNewState(s: DraftState, ctx: StepContext, m: NewState): void {
  const segmentProblem = checkSegment(m.entries, m.opNumber, m.viewNumber);
  if (segmentProblem !== null) {
    ctx.reject(s, `NewState is not a log segment: ${segmentProblem}`, describeInput(m));
    return;
  }
  if (m.checkpoint !== null && m.checkpoint.opNumber !== m.opNumber) {
    ctx.reject(s, `NewState entries follow op ${m.opNumber}, not its checkpoint's op ${m.checkpoint.opNumber}`, describeInput(m));
    return;
  }
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
  ctx.telemetry(s, 'vsr.state_transfer.received', { after: m.opNumber, entries: m.entries.length });
  const fresh = m.entries.slice(lastOp - m.opNumber);
  if (fresh.length > 0) {
    const segmentProblemHere = checkSegment(fresh, lastOp, s.viewNumber, s.log.entryAt(lastOp));
    if (segmentProblemHere !== null) {
      ctx.reject(s, `NewState does not extend the log: ${segmentProblemHere}`, describeInput(m));
      return;
    }
    for (const entry of fresh) {
      s.log = s.log.append(entry);
      s.timestampMs = entry.timestampMs;
      ctx.emit({ kind: 'log-append', entry });
    }
    ctx.telemetry(s, 'vsr.log.append', { entries: fresh.length });
    sendPrepareOk(s, ctx);
  }
  s.repairOpNumber = null;
  if (m.commitNumber > s.commitNumberMax) s.commitNumberMax = m.commitNumber;
  executeCommitted(s, ctx);
  if (s.commitNumberMax > s.log.lastOpNumber) requestRepair(s, ctx);
  else ctx.cancelTimer('repair-retry');
}
