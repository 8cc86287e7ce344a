/**
 * `checkReplicaInvariants(state)`: what must hold of a replica's state after every step, as
 * state.ts documents on each field. A test harness or simulator calls it after each step; a
 * broken invariant throws an `InvariantError` that names it. It costs O(pipeline + votes): it
 * never walks the log or the client table, so it is cheap enough to run on every step.
 *
 * The invariants hold for any sequence of events from peers that follow the protocol. A forged
 * message the core cannot tell from a real one (a Commit naming ops the primary never committed)
 * can break those that rest on the primary's word, as it can break safety itself.
 */
import { InvariantError } from './assert.js';
import { primaryOf, quorumSize, type VoteSet } from './quorum.js';
import type { PendingRead, PrimaryReads, PrimaryState, RecoveryState, ReplicaState, ViewChangeState } from './state.js';

export function checkReplicaInvariants(state: ReplicaState): void {
  checkStatus(state);
  checkNumbers(state);
  if (state.primary !== null) {
    checkPrimary(state, state.primary);
    checkReads(state, state.primary.reads);
  }
  if (state.viewChange !== null) checkViewChange(state, state.viewChange);
  if (state.recovery !== null) checkRecovery(state, state.recovery);
}

/** Throws naming the invariant (`invariant`) and what was found (`found`, built only on failure). */
function check(state: ReplicaState, holds: boolean, invariant: string, found: () => string): void {
  if (!holds) throw new InvariantError(`replica ${state.config.replicaId}: ${invariant} (${found()})`);
}

/** Which records exist follows from the status; so do the views. */
function checkStatus(s: ReplicaState): void {
  const isPrimary = primaryOf(s.viewNumber, s.config.replicaCount) === s.config.replicaId;
  check(s, (s.primary !== null) === (s.status === 'normal' && isPrimary), 'primary !== null iff status is normal and this replica is primaryOf(viewNumber)', () => `status ${s.status}, view ${s.viewNumber}, primary ${s.primary === null ? 'null' : 'set'}`);
  check(s, (s.viewChange !== null) === (s.status === 'view-change'), 'viewChange !== null iff status is view-change', () => `status ${s.status}`);
  check(s, (s.recovery !== null) === (s.status === 'recovering'), 'recovery !== null iff status is recovering', () => `status ${s.status}`);
  check(s, s.repairOpNumber === null || (s.status === 'normal' && !isPrimary), 'repairOpNumber !== null only at a backup in normal status', () => `status ${s.status}, repairOpNumber ${s.repairOpNumber}`);
  check(s, Number.isSafeInteger(s.viewNumber) && s.lastNormalView <= s.viewNumber, 'lastNormalView <= viewNumber', () => `last normal view ${s.lastNormalView}, view ${s.viewNumber}`);
  if (s.status === 'normal') {
    check(s, s.lastNormalView === s.viewNumber, 'status normal => lastNormalView === viewNumber', () => `last normal view ${s.lastNormalView}, view ${s.viewNumber}`);
  } else if (s.status === 'view-change') {
    check(s, s.lastNormalView < s.viewNumber, 'status view-change => lastNormalView < viewNumber', () => `last normal view ${s.lastNormalView}, view ${s.viewNumber}`);
  } else {
    // Booting or recovering: the replica holds nothing of its own yet (a lost disk is not trusted).
    const empty = s.viewNumber === 0 && s.lastNormalView === 0 && s.log.lastOpNumber === 0 && s.commitNumber === 0 && s.checkpoint === null;
    check(s, empty, `status ${s.status} => nothing held: view 0, empty log, nothing executed, no checkpoint`, () => `view ${s.viewNumber}, op ${s.log.lastOpNumber}, commit ${s.commitNumber}`);
  }
}

/** Commit numbers, the log's bounds, the checkpoint and the timestamp. */
function checkNumbers(s: ReplicaState): void {
  const { log } = s;
  const lastOpNumber = log.lastOpNumber;
  check(s, s.commitNumber <= s.commitNumberMax, 'commitNumber <= commitNumberMax', () => `commit ${s.commitNumber}, commit max ${s.commitNumberMax}`);
  check(s, s.commitNumber === Math.min(s.commitNumberMax, lastOpNumber), 'commitNumber === min(commitNumberMax, log.lastOpNumber): every op committed and held is executed, and no other', () => `commit ${s.commitNumber}, commit max ${s.commitNumberMax}, last op ${lastOpNumber}`);
  const checkpointOpNumber = s.checkpoint?.value.opNumber ?? 0;
  check(s, log.baseOpNumber <= checkpointOpNumber && checkpointOpNumber <= s.commitNumber, 'log.baseOpNumber <= checkpoint op <= commitNumber', () => `base ${log.baseOpNumber}, checkpoint ${checkpointOpNumber}, commit ${s.commitNumber}`);
  const last = log.entryAt(lastOpNumber);
  if (lastOpNumber > log.baseOpNumber) {
    check(s, last?.opNumber === lastOpNumber, "the log's last entry has op log.lastOpNumber", () => `entry ${last?.opNumber} at op ${lastOpNumber}`);
  }
  check(s, last === undefined || s.timestampMs >= last.timestampMs, "timestampMs >= the last entry's timestamp", () => `timestamp ${s.timestampMs}, last entry's ${last?.timestampMs}`);
  check(s, s.repairOpNumber === null || s.repairOpNumber <= lastOpNumber, 'repairOpNumber <= log.lastOpNumber', () => `repair after ${s.repairOpNumber}, last op ${lastOpNumber}`);
}

/** A vote set: sorted, distinct ids of the configuration. */
function isVoteSet(votes: VoteSet, replicaCount: number): boolean {
  for (let i = 0; i < votes.length; i++) {
    const vote = votes[i] ?? -1;
    if (!Number.isInteger(vote) || vote < 0 || vote >= replicaCount || (i > 0 && vote <= (votes[i - 1] ?? -1))) return false;
  }
  return true;
}

/** The pipeline is the log's uncommitted tail, acknowledged cumulatively; the queue waits for room. */
function checkPrimary(s: ReplicaState, primary: PrimaryState): void {
  const { pipeline, queue } = primary;
  const { replicaCount, replicaId, limits } = s.config;
  const lastOpNumber = s.log.lastOpNumber;
  check(s, s.commitNumber === s.commitNumberMax, 'primary => commitNumber === commitNumberMax', () => `commit ${s.commitNumber}, commit max ${s.commitNumberMax}`);
  check(s, pipeline.length === lastOpNumber - s.commitNumber, 'primary => the pipeline holds ops commitNumber + 1 .. log.lastOpNumber', () => `${pipeline.length} ops, commit ${s.commitNumber}, last op ${lastOpNumber}`);
  for (let i = 0; i < pipeline.length; i++) {
    const op = pipeline[i];
    const previous = pipeline[i - 1];
    if (op === undefined) continue;
    check(s, op.opNumber === s.commitNumber + 1 + i, 'primary => pipeline ops are consecutive, from commitNumber + 1', () => `op ${op.opNumber} at position ${i}, commit ${s.commitNumber}`);
    check(s, isVoteSet(op.acks, replicaCount) && op.acks.includes(replicaId), "primary => each pipeline op's acks are a vote set with the primary's own", () => `op ${op.opNumber} acks {${op.acks.join(',')}}`);
    // PrepareOk is cumulative, so an op is acknowledged by every replica that acknowledged a later one.
    check(s, previous === undefined || op.acks.length <= previous.acks.length, 'primary => acks never grow along the pipeline', () => `op ${op.opNumber} acks {${op.acks.join(',')}} after {${previous?.acks.join(',')}}`);
  }
  const oldest = pipeline[0];
  check(s, oldest === undefined || oldest.acks.length < quorumSize(replicaCount), 'primary => the oldest pipeline op lacks a quorum (one that has one is committed)', () => `op ${oldest?.opNumber} acks {${oldest?.acks.join(',')}}`);
  check(s, queue.size <= limits.requestQueueMax && queue.bytes <= limits.requestQueueBytesMax, 'primary => the request queue is within requestQueueMax and requestQueueBytesMax', () => `${queue.size} requests, ${queue.bytes} bytes`);
  check(s, queue.size === 0 || pipeline.length >= limits.pipelineMax, 'primary => requests wait in the queue only while the pipeline is full', () => `${queue.size} queued, ${pipeline.length} of ${limits.pipelineMax} in the pipeline`);
}

/** Reads wait for a round not yet confirmed or an op not yet executed; at most readRoundsMax rounds are out. */
function checkReads(s: ReplicaState, reads: PrimaryReads): void {
  const { replicaCount, replicaId, limits } = s.config;
  const { round, confirmed, confirmedRound, pending } = reads;
  const quorumRound = [...confirmed].sort((a, b) => b - a)[quorumSize(replicaCount) - 1];
  check(s, confirmed.length === replicaCount && confirmed[replicaId] === round && confirmed.every((each) => Number.isSafeInteger(each) && each >= 0 && each <= round), "primary.reads.confirmed: a round per replica, at most the latest, the primary's own the latest", () => `confirmed [${confirmed.join(',')}], round ${round}`);
  check(s, quorumRound === confirmedRound, 'primary.reads.confirmedRound: the round f + 1 replicas confirmed', () => `confirmed [${confirmed.join(',')}], confirmedRound ${confirmedRound}`);
  check(s, round - confirmedRound <= limits.readRoundsMax, 'primary.reads: at most readRoundsMax rounds out', () => `round ${round}, confirmed ${confirmedRound}`);
  check(s, pending.size <= limits.readsPendingMax, 'primary.reads: at most readsPendingMax held', () => `${pending.size} held`);
  let previous: PendingRead | undefined;
  let waitingForNext = 0;
  for (const read of pending) {
    check(s, previous === undefined || (previous.round <= read.round && previous.opNumber <= read.opNumber), 'primary.reads: rounds and op numbers never decrease along the held reads', () => `read ${read.clientId}#${read.readNumber} (round ${read.round}, op ${read.opNumber}) after round ${previous?.round}, op ${previous?.opNumber}`);
    previous = read;
    if (read.round === round + 1) waitingForNext++;
    check(s, read.round <= round + 1 && read.opNumber <= s.log.lastOpNumber, 'primary.reads: a held read waits for at most the next round, and for an op of the log', () => `read ${read.clientId}#${read.readNumber}: round ${read.round} (latest ${round}), op ${read.opNumber} (last ${s.log.lastOpNumber})`);
    check(s, read.round > confirmedRound || read.opNumber > s.commitNumber, 'primary.reads: a read that may be answered is answered at once', () => `read ${read.clientId}#${read.readNumber}: round ${read.round} confirmed ${confirmedRound}, op ${read.opNumber} commit ${s.commitNumber}`);
    check(s, read.round <= round || round - confirmedRound >= limits.readRoundsMax, 'primary.reads: a read waits for the next round only while readRoundsMax rounds are out', () => `read ${read.clientId}#${read.readNumber}: round ${read.round}, latest ${round}, confirmed ${confirmedRound}`);
  }
  check(s, waitingForNext === reads.nextRoundReads, 'primary.reads.nextRoundReads counts the held reads that wait for round + 1', () => `${waitingForNext} wait, counted ${reads.nextRoundReads}`);
}

/** Votes are sets; a DoViewChange is recorded only by the view's primary, its own vote once it sent it. */
function checkViewChange(s: ReplicaState, viewChange: ViewChangeState): void {
  const { replicaCount, replicaId } = s.config;
  const { startViewChangeVotes, doViewChanges, checkpointOpNumbers } = viewChange;
  const isPrimary = primaryOf(s.viewNumber, replicaCount) === replicaId;
  check(s, isVoteSet(startViewChangeVotes, replicaCount) && startViewChangeVotes.includes(replicaId), "viewChange.startViewChangeVotes is a vote set with this replica's own", () => `{${startViewChangeVotes.join(',')}}`);
  check(s, !viewChange.doViewChangeSent || startViewChangeVotes.length >= quorumSize(replicaCount), 'viewChange.doViewChangeSent => f + 1 StartViewChange votes', () => `{${startViewChangeVotes.join(',')}}`);
  const voters = doViewChanges.map((vote) => vote.replica);
  check(s, isVoteSet(voters, replicaCount) && (voters.length === 0 || isPrimary), 'viewChange.doViewChanges: one per replica, sorted, held only by the new primary', () => `voters {${voters.join(',')}}, primary ${isPrimary}`);
  check(s, doViewChanges.every((vote) => vote.lastNormalView < s.viewNumber), 'viewChange.doViewChanges: each from a last normal view before this view', () => `view ${s.viewNumber}, last normal views ${doViewChanges.map((vote) => vote.lastNormalView).join(',')}`);
  check(s, !(isPrimary && viewChange.doViewChangeSent) || voters.includes(replicaId), "viewChange: the new primary's own DoViewChange is recorded once it has a StartViewChange quorum", () => `voters {${voters.join(',')}}`);
  const own = s.checkpoint?.value.opNumber ?? 0;
  check(s, checkpointOpNumbers.length === replicaCount && checkpointOpNumbers[replicaId] === own, "viewChange.checkpointOpNumbers: one per replica, this replica's own checkpoint op among them", () => `${checkpointOpNumbers.length} entries, own ${checkpointOpNumbers[replicaId]}, checkpoint ${own}`);
  check(s, Number.isSafeInteger(viewChange.attempt) && viewChange.attempt >= 0, 'viewChange.attempt is a count', () => `${viewChange.attempt}`);
}

/** One answer per other replica; only a view's primary adds its log. */
function checkRecovery(s: ReplicaState, recovery: RecoveryState): void {
  const { replicaCount, replicaId } = s.config;
  const repliers = recovery.responses.map((answer) => answer.replica);
  check(s, isVoteSet(repliers, replicaCount) && !repliers.includes(replicaId), 'recovery.responses: one per other replica, sorted', () => `{${repliers.join(',')}}`);
  for (const answer of recovery.responses) {
    const fromPrimary = answer.replica === primaryOf(answer.viewNumber, replicaCount);
    check(s, answer.primaryState === null || fromPrimary, 'recovery.responses: only the primary of the view an answer names carries a log', () => `replica ${answer.replica} in view ${answer.viewNumber}`);
  }
}
