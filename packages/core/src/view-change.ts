/**
 * The view change (VR Revisited §4.2), with the pitfalls of design rules 2–5 (docs/protocol.md)
 * and 9 designed out:
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
 */
import type { DraftState, StepContext } from './context.js';
import { isCheckpointReference } from './messages.js';
import type { Checkpoint, CheckpointReference, Commit, DoViewChange, LogEntry, NewState, Prepare, StartView, StartViewChange } from './messages.js';
import type { DoViewChangeVote } from './state.js';
import { InFlightRequests } from './client-table.js';
import { RequestQueue } from './request-queue.js';
import { addVote, chooseLog, hasVote, primaryOf, quorumSize } from './quorum.js';
import { Log } from './log.js';
import { Opaque } from './state.js';
import { checkLogClaim, checkpointOpNumber, installCheckpoint, logSuffix } from './checkpoint.js';
import { executeCommitted } from './execute.js';
import { describeInput, flushAndCommit, onCommit, onPrepare, sendPrepareOk } from './normal.js';
import { onNewState } from './state-transfer.js';
import { defined } from './assert.js';

/**
 * Routes what the primary of a view sends during normal operation (Prepare,
 * Commit, NewState; the sender is already checked). From an older view: stale.
 * From a later view: this replica missed a view change, so it joins that view;
 * the view's primary answers its StartViewChange with StartView, which carries
 * the log to install. From its own view: only while normal — once a replica
 * starts a view change it accepts nothing from the old view (§8.1, design rule 2 of docs/protocol.md).
 */
export function routeFromPrimary(s: DraftState, ctx: StepContext, m: Prepare | Commit | NewState): void {
  if (m.viewNumber < s.viewNumber) return;
  if (m.viewNumber > s.viewNumber) {
    startViewChange(s, ctx, m.viewNumber);
    return;
  }
  if (s.status !== 'normal' || s.primary !== null) return;
  if (m.type === 'prepare') return onPrepare(s, ctx, m);
  if (m.type === 'commit') return onCommit(s, ctx, m);
  return onNewState(s, ctx, m);
}

/** Moves to `viewNumber` in view-change status and tells everyone (§4.2 step 1). */
export function startViewChange(s: DraftState, ctx: StepContext, viewNumber: number): void {
  if (viewNumber <= s.viewNumber && s.status !== 'booting') {
    throw new Error(`invariant: view change to view ${viewNumber} from view ${s.viewNumber}`);
  }
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
  // Guide rule 8: the new view is durable before this replica says anything in it.
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
}

export function onStartViewChange(s: DraftState, ctx: StepContext, m: StartViewChange): void {
  if (m.viewNumber < s.viewNumber) return;
  if (m.viewNumber === s.viewNumber && s.status === 'normal') {
    // The sender missed our StartView: the primary tells it again.
    if (s.primary !== null) sendStartView(s, ctx, m.replica, m.checkpointOpNumber);
    return;
  }
  if (m.viewNumber > s.viewNumber) startViewChange(s, ctx, m.viewNumber);
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
  ctx.telemetry(s, 'vsr.view_change.do_view_change_sent', { to: primaryOf(s.viewNumber, ctx.replicaCount) });
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

function checkDoViewChange(m: DoViewChange): string | null {
  if (m.lastNormalView >= m.viewNumber) {
    return `DoViewChange for view ${m.viewNumber} claims last normal view ${m.lastNormalView}`;
  }
  return checkLogClaim('DoViewChange', m, m.lastNormalView);
}

/** One vote per replica: a duplicate DoViewChange never counts twice. */
function recordDoViewChange(s: DraftState, _ctx: StepContext, vote: DoViewChangeVote): void {
  const viewChange = defined(s.viewChange, 'the view change of a replica in view-change status');
  if (viewChange.doViewChanges.some((existing) => existing.replica === vote.replica)) return;
  viewChange.doViewChanges.push(vote as never);
  viewChange.doViewChanges.sort((a, b) => a.replica - b.replica);
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
    viewChange.doViewChanges = votes.filter((vote) => vote.replica === ctx.self) as never;
    return;
  }
  enterNormal(s, ctx, commitNumber);
  const pipeline = [];
  let inFlight = InFlightRequests.EMPTY;
  for (let opNumber = s.commitNumberMax + 1; opNumber <= s.log.lastOpNumber; opNumber++) {
    pipeline.push({ opNumber, acks: [ctx.self] });
    for (const request of defined(s.log.entryAt(opNumber), () => `op ${opNumber}, uncommitted in the new primary's log`).requests) {
      inFlight = inFlight.add(request.clientId, request.requestNumber);
    }
  }
  s.primary = { pipeline, queue: RequestQueue.EMPTY, inFlight };
  ctx.telemetry(s, 'vsr.view_change.complete', { chosenFrom: chosen.replica, votes: votes.length });
  ctx.telemetry(s, 'vsr.leadership.start');
  for (let to = 0; to < ctx.replicaCount; to++) {
    if (to !== ctx.self) sendStartView(s, ctx, to, reported[to] ?? null);
  }
  ctx.setTimer('heartbeat');
  if (pipeline.length > 0) ctx.setTimer('prepare-retry');
  executeCommitted(s, ctx);
  flushAndCommit(s, ctx);
}

function sendStartView(s: DraftState, ctx: StepContext, to: number, receiverCheckpointOpNumber: number | null): void {
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
  const refusal = installSuffix(s, ctx, m.checkpoint, m.log);
  if (refusal !== null) {
    ctx.reject(s, `StartView log ${refusal}`, describeInput(m));
    return;
  }
  s.viewNumber = m.viewNumber;
  enterNormal(s, ctx, m.commitNumber);
  ctx.telemetry(s, 'vsr.view_change.complete', { primary: m.replica });
  ctx.setTimer('primary-timeout');
  executeCommitted(s, ctx);
  if (s.log.lastOpNumber > s.commitNumber) sendPrepareOk(s, ctx);
}

function checkStartView(m: StartView): string | null {
  return checkLogClaim('StartView', m, m.viewNumber);
}

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
  if (ours === undefined) return null; // Released: our own checkpoint covers it.
  if (theirs === undefined) return `lacks op ${s.commitNumber}, which this replica executed`;
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
export function installLog(s: DraftState, ctx: StepContext, entries: readonly LogEntry[], base = 0): void {
  const ourLast = s.log.lastOpNumber;
  const theirLast = base + entries.length;
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
    if (divergeAt - 1 < s.commitNumber) throw new Error('invariant: truncating an executed op');
    s.log = s.log.truncateAfter(divergeAt - 1);
    ctx.emit({ kind: 'log-truncate', opNumber: divergeAt - 1 });
    ctx.telemetry(s, 'vsr.log.truncate', { removed: ourLast - (divergeAt - 1) });
  }
  for (let opNumber = Math.max(divergeAt, base + 1); opNumber <= theirLast; opNumber++) {
    const entry = theirs(opNumber);
    s.log = s.log.append(entry);
    ctx.emit({ kind: 'log-append', entry });
  }
  const last = s.log.entryAt(s.log.lastOpNumber);
  s.timestampMs = Math.max(s.timestampMs, last?.timestampMs ?? 0);
}

function enterNormal(s: DraftState, ctx: StepContext, commitNumber: number): void {
  const previousStatus = s.status;
  s.status = 'normal';
  s.lastNormalView = s.viewNumber;
  s.viewChange = null;
  s.repairOpNumber = null;
  s.primary = null;
  if (commitNumber > s.commitNumberMax) s.commitNumberMax = Math.min(commitNumber, s.log.lastOpNumber);
  ctx.emit({ kind: 'persist-header', header: { viewNumber: s.viewNumber, lastNormalView: s.lastNormalView } });
  ctx.cancelTimer('view-change-retry');
  ctx.cancelTimer('view-change-timeout');
  ctx.telemetry(s, 'vsr.status.change', { from: previousStatus, to: 'normal' });
}

/**
 * View changes that fail in a row wait longer each time (×2, up to ×16): a
 * view change whose messages take longer than the timeout to arrive and be
 * processed (a slow network, a large checkpoint) would otherwise be abandoned
 * again and again, and replicas that time out together would keep racing.
 */
function backoff(attempt: number): number {
  return 2 ** Math.min(attempt, 4);
}

/** Guide rule 4: nothing relies on one message arriving. */
export function onViewChangeRetryTimeout(s: DraftState, ctx: StepContext): void {
  const viewChange = s.viewChange;
  if (s.status !== 'view-change' || viewChange === null) return;
  ctx.broadcast(s, { type: 'start-view-change', checkpointOpNumber: checkpointOpNumber(s) });
  if (viewChange.doViewChangeSent && !ctx.isPrimaryOf(s.viewNumber)) sendDoViewChange(s, ctx);
  ctx.setTimer('view-change-retry', backoff(viewChange.attempt));
}

export function onViewChangeTimeout(s: DraftState, ctx: StepContext): void {
  if (s.status !== 'view-change') return;
  ctx.telemetry(s, 'vsr.view_change.timeout');
  startViewChange(s, ctx, s.viewNumber + 1);
}
