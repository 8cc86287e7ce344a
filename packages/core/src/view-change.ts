/**
 * The view change (VR Revisited §4.2), with the pitfalls of design rules 2–5 (docs/protocol.md)
 * designed out:
 * - a replica that starts a view change moves to the new view at once, so it
 *   accepts no Prepare from the older view;
 * - StartViewChange and DoViewChange votes are sets of replica ids;
 * - the new primary needs f + 1 DoViewChange messages, its own among them;
 * - the log with the largest last-normal-view wins, ties to the largest op;
 * - StartViewChange and DoViewChange are resent on a timer, a stalled view
 *   change moves on to the next view, and a primary that hears from a replica
 *   still changing to its (finished) view answers with StartView;
 * - every replica executes the newly committed ops and backups acknowledge
 *   the uncommitted suffix;
 * - DoViewChange and StartView name the sender's checkpoint without its
 *   snapshot when the receiver reported (in this view change) a checkpoint at
 *   least as recent: it has executed every op the checkpoint covers, so it
 *   needs only the entries after it. Others get the checkpoint whole.
 * Installing the chosen log is log-install.ts's; entering normal status, become-normal.ts's.
 */
import { noReads } from './reads.js';
import type { DraftState, StepContext } from './context.js';
import type { Checkpoint, CheckpointReference, DoViewChange, StartView, StartViewChange } from './messages.js';
import type { DoViewChangeVote } from './state.js';
import { InFlightRequests } from './client-table.js';
import { RequestQueue } from './request-queue.js';
import { addVote, chooseLog, hasVote, primaryOf, quorumSize } from './quorum.js';
import { Log } from './log.js';
import { Opaque } from './state.js';
import { VIEW_CHANGE_BACKOFF_DOUBLINGS_MAX } from './config.js';
import { checkpointOpNumber, logSuffix } from './checkpoint.js';
import { executeCommitted } from './execute.js';
import { flushAndCommit } from './normal.js';
import { sendPrepareOk } from './acknowledge.js';
import { becomeNormal } from './become-normal.js';
import { installSuffix } from './log-install.js';
import { checkDoViewChange, checkStartView } from './message-checks.js';
import { describeInput } from './describe-input.js';
import { assert, defined } from './assert.js';

/** A backup that hears nothing from the primary for `primaryTimeoutMs` starts a view change to the next view. */
export function onPrimaryTimeout(s: DraftState, ctx: StepContext): void {
  if (s.status !== 'normal' || s.primary !== null) return;
  ctx.telemetry(s, 'vsr.primary.timeout');
  startViewChange(s, ctx, s.viewNumber + 1);
}

/** Moves to `viewNumber` in view-change status and tells everyone (§4.2 step 1). */
export function startViewChange(s: DraftState, ctx: StepContext, viewNumber: number): void {
  assert(viewNumber > s.viewNumber || s.status === 'booting', () => `view change to view ${viewNumber} from view ${s.viewNumber}`);
  // Views only count up, and VIEW_NUMBER_MAX leaves room to: the next view is always a safe integer.
  assert(Number.isSafeInteger(viewNumber), () => `view ${viewNumber} is a safe integer`);
  assert(s.status !== 'recovering', 'a recovering replica takes part in no view change');
  const wasPrimary = s.primary !== null;
  const previousStatus = s.status;
  const attempt = previousStatus === 'view-change' && s.viewChange !== null ? s.viewChange.attempt + 1 : 0;
  s.status = 'view-change';
  s.viewNumber = viewNumber;
  s.primary = null;
  s.repairOpNumber = null;
  const checkpointOpNumbers: (number | null)[] = new Array<number | null>(ctx.replicaCount).fill(null);
  checkpointOpNumbers[ctx.self] = checkpointOpNumber(s);
  s.viewChange = { startViewChangeVotes: [ctx.self], doViewChangeSent: false, doViewChanges: [], checkpointOpNumbers, attempt };
  // Design rule 8 of docs/protocol.md: the new view is durable before this replica says anything in it.
  ctx.emit({ kind: 'persist-header', header: { viewNumber, lastNormalView: s.lastNormalView } });
  ctx.cancelTimer('heartbeat');
  ctx.cancelTimer('prepare-retry');
  ctx.cancelTimer('primary-timeout');
  ctx.cancelTimer('repair-retry');
  ctx.setTimer('view-change-retry', backoff(attempt));
  ctx.setTimer('view-change-timeout', backoff(attempt));
  if (wasPrimary) ctx.telemetry(s, 'vsr.leadership.stop');
  ctx.telemetry(s, 'vsr.status.change', { from: previousStatus, to: 'view-change' });
  ctx.telemetry(s, 'vsr.view_change.start', { lastNormalView: s.lastNormalView });
  ctx.broadcast(s, { type: 'start-view-change', checkpointOpNumber: checkpointOpNumber(s) });
  maybeSendDoViewChange(s, ctx);
  // A view change among a single replica (or a quorum of one) completes at once.
  assert(s.status === 'view-change' || s.status === 'normal', () => `a view change left status ${s.status}`);
}

export function onStartViewChange(s: DraftState, ctx: StepContext, m: StartViewChange): void {
  if (m.viewNumber < s.viewNumber) return;
  if (m.viewNumber === s.viewNumber && s.status === 'normal') {
    // The sender missed our StartView: the primary tells it again.
    if (s.primary !== null) sendStartView(s, ctx, m.replica, m.checkpointOpNumber);
    return;
  }
  if (m.viewNumber > s.viewNumber) startViewChange(s, ctx, m.viewNumber);
  if (s.status === 'normal') return; // With f = 0 (two replicas) the view change completed at once.
  assert(s.status === 'view-change' && s.viewNumber === m.viewNumber, 'a StartViewChange is counted in its own view change');
  const viewChange = defined(s.viewChange, 'the view change of a replica in view-change status');
  viewChange.startViewChangeVotes = addVote(viewChange.startViewChangeVotes, m.replica) as number[];
  reportCheckpoint(s, m.replica, m.checkpointOpNumber);
  ctx.telemetry(s, 'vsr.view_change.vote_received', {
    from: m.replica,
    votes: viewChange.startViewChangeVotes.length,
  });
  maybeSendDoViewChange(s, ctx);
}

/** §4.2 step 2: with f other StartViewChange votes, send DoViewChange to the new primary. */
function maybeSendDoViewChange(s: DraftState, ctx: StepContext): void {
  const viewChange = s.viewChange;
  if (s.status !== 'view-change' || viewChange === null || viewChange.doViewChangeSent) return;
  if (viewChange.startViewChangeVotes.length < quorumSize(ctx.replicaCount)) return;
  // The quorum counts this replica: it voted when it started the view change.
  assert(hasVote(viewChange.startViewChangeVotes, ctx.self), 'a replica votes in its own view change');
  viewChange.doViewChangeSent = true;
  if (ctx.isPrimaryOf(s.viewNumber)) {
    recordDoViewChange(s, ctx, ownVote(s, ctx));
    maybeStartView(s, ctx);
  } else {
    sendDoViewChange(s, ctx);
  }
}

function ownVote(s: DraftState, ctx: StepContext): DoViewChangeVote {
  const { checkpoint, entries } = logSuffix(s);
  return {
    replica: ctx.self,
    lastNormalView: s.lastNormalView,
    opNumber: s.log.lastOpNumber,
    commitNumber: s.commitNumber,
    checkpoint: checkpoint === null ? null : new Opaque(checkpoint),
    log: Log.fromEntries(entries, checkpoint?.opNumber ?? 0),
  };
}

/** Remembers the checkpoint a replica reported in this view change (checkpoints only move forward). */
function reportCheckpoint(s: DraftState, replica: number, opNumber: number): void {
  const viewChange = defined(s.viewChange, 'the view change of a replica in view-change status');
  const known = viewChange.checkpointOpNumbers[replica] ?? null;
  if (known !== null && known >= opNumber) return;
  const updated = [...viewChange.checkpointOpNumbers];
  updated[replica] = opNumber;
  viewChange.checkpointOpNumbers = updated;
  assert(updated.length === s.config.replicaCount, 'one reported checkpoint per replica');
}

/**
 * The checkpoint to send a replica whose durable checkpoint is at
 * `receiverCheckpointOpNumber` (null: unknown): a reference when that covers
 * ours, else the whole checkpoint.
 */
function checkpointFor(checkpoint: Checkpoint | null, receiverCheckpointOpNumber: number | null): Checkpoint | CheckpointReference | null {
  if (checkpoint === null) return null;
  if (receiverCheckpointOpNumber === null || receiverCheckpointOpNumber < checkpoint.opNumber) return checkpoint;
  return { opNumber: checkpoint.opNumber, viewNumber: checkpoint.viewNumber, omitted: true };
}

function sendDoViewChange(s: DraftState, ctx: StepContext): void {
  assert(s.status === 'view-change' && !ctx.isPrimaryOf(s.viewNumber), 'DoViewChange is sent by a replica changing views to another primary');
  const { checkpoint, entries } = logSuffix(s);
  const primary = primaryOf(s.viewNumber, ctx.replicaCount);
  ctx.send(s, primary, {
    type: 'do-view-change',
    lastNormalView: s.lastNormalView,
    opNumber: s.log.lastOpNumber,
    commitNumber: s.commitNumber,
    checkpoint: checkpointFor(checkpoint, s.viewChange?.checkpointOpNumbers[primary] ?? null),
    log: entries,
  });
  ctx.telemetry(s, 'vsr.view_change.do_view_change_sent', { to: primary });
}

export function onDoViewChange(s: DraftState, ctx: StepContext, m: DoViewChange): void {
  const problem = checkDoViewChange(m);
  if (problem !== null) {
    ctx.reject(s, problem, describeInput(m));
    return;
  }
  if (!ctx.isPrimaryOf(m.viewNumber)) {
    ctx.reject(s, `DoViewChange for view ${m.viewNumber} sent to a replica that is not its primary`, describeInput(m));
    return;
  }
  if (m.viewNumber < s.viewNumber) return;
  if (m.viewNumber === s.viewNumber && s.status === 'normal') {
    sendStartView(s, ctx, m.replica, m.checkpoint?.opNumber ?? 0);
    return;
  }
  if (m.viewNumber > s.viewNumber) startViewChange(s, ctx, m.viewNumber);
  if (s.status === 'normal') return; // With f = 0 (two replicas) the view change completed at once.
  assert(s.status === 'view-change' && s.viewNumber === m.viewNumber, 'a DoViewChange is counted in its own view change');
  const viewChange = defined(s.viewChange, 'the view change of a replica in view-change status');
  // A replica that sent DoViewChange has also started this view change.
  viewChange.startViewChangeVotes = addVote(viewChange.startViewChangeVotes, m.replica) as number[];
  // Its checkpoint is the one its DoViewChange names (its log follows it).
  reportCheckpoint(s, m.replica, m.checkpoint?.opNumber ?? 0);
  recordDoViewChange(s, ctx, {
    replica: m.replica,
    lastNormalView: m.lastNormalView,
    opNumber: m.opNumber,
    commitNumber: m.commitNumber,
    checkpoint: m.checkpoint === null ? null : new Opaque(m.checkpoint),
    log: Log.fromEntries(m.log, m.checkpoint?.opNumber ?? 0),
  });
  ctx.telemetry(s, 'vsr.view_change.do_view_change_received', {
    from: m.replica,
    count: viewChange.doViewChanges.length,
  });
  maybeSendDoViewChange(s, ctx);
  maybeStartView(s, ctx);
}

/** One vote per replica: a duplicate DoViewChange never counts twice. */
function recordDoViewChange(s: DraftState, ctx: StepContext, vote: DoViewChangeVote): void {
  const viewChange = defined(s.viewChange, 'the view change of a replica in view-change status');
  // Checked for messages by checkDoViewChange; the own vote is from a replica changing views.
  assert(vote.lastNormalView < s.viewNumber && vote.replica < ctx.replicaCount, 'a DoViewChange vote comes from the configuration and an earlier normal view');
  if (viewChange.doViewChanges.some((existing) => existing.replica === vote.replica)) return;
  viewChange.doViewChanges.push(vote);
  viewChange.doViewChanges.sort((a, b) => a.replica - b.replica);
  assert(viewChange.doViewChanges.length <= ctx.replicaCount, 'at most one DoViewChange vote per replica');
}

/**
 * §4.2 step 3: with f + 1 DoViewChange messages, its own among them, the new
 * primary takes the log with the largest last normal view (then the largest
 * op), the largest commit number, and starts the view.
 */
function maybeStartView(s: DraftState, ctx: StepContext): void {
  const viewChange = s.viewChange;
  if (s.status !== 'view-change' || viewChange === null || !ctx.isPrimaryOf(s.viewNumber)) return;
  const votes = viewChange.doViewChanges;
  const voters = votes.map((vote) => vote.replica);
  if (!hasVote(voters, ctx.self) || voters.length < quorumSize(ctx.replicaCount)) return;

  const chosen = chooseLog(votes);
  let commitNumber = 0;
  for (const vote of votes) commitNumber = Math.max(commitNumber, vote.commitNumber);
  if (commitNumber > chosen.opNumber) {
    // Only a broken or forged vote can claim a commit the chosen log lacks.
    ctx.reject(s, `DoViewChange votes claim commit ${commitNumber} beyond the chosen log (op ${chosen.opNumber})`, 'do-view-change');
    commitNumber = chosen.opNumber;
  }
  const reported = viewChange.checkpointOpNumbers;
  const problem = installSuffix(s, ctx, chosen.checkpoint?.value ?? null, chosen.log.toArray());
  if (problem !== null) {
    ctx.reject(s, `the chosen DoViewChange log ${problem}; waiting for other votes`, 'do-view-change');
    viewChange.doViewChanges = votes.filter((vote) => vote.replica === ctx.self);
    return;
  }
  becomeNormal(s, ctx, 'view-change', commitNumber);
  s.primary = startPipeline(s, ctx);
  // Its last normal view is now this view: a later view change prefers its log to older ones (design rule 3 of docs/protocol.md).
  assert(ctx.isPrimaryOf(s.viewNumber) && s.lastNormalView === s.viewNumber, 'the new primary leads the view it started, as its last normal view');
  ctx.telemetry(s, 'vsr.view_change.complete', { primary: ctx.self, chosenFrom: chosen.replica, votes: votes.length });
  ctx.telemetry(s, 'vsr.leadership.start');
  for (let to = 0; to < ctx.replicaCount; to++) {
    if (to !== ctx.self) sendStartView(s, ctx, to, reported[to] ?? null);
  }
  ctx.setTimer('heartbeat');
  if (s.primary.pipeline.length > 0) ctx.setTimer('prepare-retry');
  executeCommitted(s, ctx);
  flushAndCommit(s, ctx);
}

/**
 * The new primary's pipeline: every op of the installed log after the known commit number, each
 * acknowledged by this replica alone so far; their requests are in flight (a client's retry must
 * not enter the log again while its first copy waits to commit).
 */
function startPipeline(s: DraftState, ctx: StepContext): NonNullable<DraftState['primary']> {
  const pipeline = [];
  let inFlight = InFlightRequests.EMPTY;
  for (let opNumber = s.commitNumberMax + 1; opNumber <= s.log.lastOpNumber; opNumber++) {
    pipeline.push({ opNumber, acks: [ctx.self] });
    for (const request of defined(s.log.entryAt(opNumber), () => `op ${opNumber}, uncommitted in the new primary's log`).requests) {
      inFlight = inFlight.add(request.clientId, request.requestNumber);
    }
  }
  return { pipeline, queue: RequestQueue.EMPTY, inFlight, reads: noReads(ctx.replicaCount) };
}

function sendStartView(s: DraftState, ctx: StepContext, to: number, receiverCheckpointOpNumber: number | null): void {
  assert(s.status === 'normal' && s.primary !== null, 'StartView is sent by the primary of a view in normal status');
  const { checkpoint, entries } = logSuffix(s);
  ctx.send(s, to, {
    type: 'start-view',
    opNumber: s.log.lastOpNumber,
    commitNumber: s.commitNumberMax,
    checkpoint: checkpointFor(checkpoint, receiverCheckpointOpNumber),
    log: entries,
  });
}

/** §4.2 step 5: a backup installs the new view's log, executes what is committed, and acknowledges the rest. */
export function onStartView(s: DraftState, ctx: StepContext, m: StartView): void {
  const problem = checkStartView(m);
  if (problem !== null) {
    ctx.reject(s, problem, describeInput(m));
    return;
  }
  if (m.viewNumber < s.viewNumber) return;
  if (m.viewNumber === s.viewNumber && s.status === 'normal') return; // Already in this view.
  // The sender is the view's primary (replica.ts checked) and not this replica: this is a backup of it.
  assert(!ctx.isPrimaryOf(m.viewNumber), 'a StartView reaches only the backups of its view');
  const refusal = installSuffix(s, ctx, m.checkpoint, m.log);
  if (refusal !== null) {
    ctx.reject(s, `StartView log ${refusal}`, describeInput(m));
    return;
  }
  s.viewNumber = m.viewNumber;
  becomeNormal(s, ctx, 'view-change', m.commitNumber);
  ctx.telemetry(s, 'vsr.view_change.complete', { primary: m.replica, chosenFrom: null, votes: null });
  ctx.setTimer('primary-timeout');
  executeCommitted(s, ctx);
  if (s.log.lastOpNumber > s.commitNumber) sendPrepareOk(s, ctx);
}

/**
 * View changes that fail in a row wait longer each time (×2, up to
 * ×2^VIEW_CHANGE_BACKOFF_DOUBLINGS_MAX): a view change whose messages take
 * longer than the timeout to arrive and be processed (a slow network, a large
 * checkpoint) would otherwise be abandoned again and again, and replicas that
 * time out together would keep racing.
 */
function backoff(attempt: number): number {
  return 2 ** Math.min(attempt, VIEW_CHANGE_BACKOFF_DOUBLINGS_MAX);
}

/** Design rule 4 of docs/protocol.md: nothing relies on one message arriving. */
export function onViewChangeRetryTimeout(s: DraftState, ctx: StepContext): void {
  if (s.status !== 'view-change') return;
  const viewChange = defined(s.viewChange, 'the view change of a replica in view-change status');
  ctx.broadcast(s, { type: 'start-view-change', checkpointOpNumber: checkpointOpNumber(s) });
  if (viewChange.doViewChangeSent && !ctx.isPrimaryOf(s.viewNumber)) sendDoViewChange(s, ctx);
  ctx.setTimer('view-change-retry', backoff(viewChange.attempt));
}

export function onViewChangeTimeout(s: DraftState, ctx: StepContext): void {
  if (s.status !== 'view-change') return;
  ctx.telemetry(s, 'vsr.view_change.timeout');
  startViewChange(s, ctx, s.viewNumber + 1);
}
