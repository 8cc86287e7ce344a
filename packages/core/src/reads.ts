/**
 * Linearizable reads that do not go through the log. The primary answers a read from the state
 * it has executed once both of these hold:
 *
 * 1. a quorum (itself included) confirmed, in a round sent after the read arrived, that it is
 *    still in the primary's view, in normal status (ConfirmView, ConfirmViewOk);
 * 2. it has executed every op it held when the read arrived.
 *
 * Why that is enough: a write whose reply a client had before it sent the read committed in
 * some view u. If u is the primary's view or an earlier one, the op is in the primary's log (a
 * view change carries every committed op into the next view, §4.2), at or below the last op it
 * held when the read arrived, so (2) makes the answer include it. If u were a later view, a
 * quorum would have entered u before the read arrived; that quorum and the confirming one share
 * a replica, which would have confirmed the primary's older view after entering a later one,
 * and a replica's view never goes back. No clock is trusted, so clock drift cannot break it.
 *
 * Reads are batched: one round confirms every read that arrived before it was sent, and at most
 * one round is out at a time (reads that arrive meanwhile wait for the next). A round whose
 * answers are lost is resent, with the same number, at the next heartbeat. A primary that
 * leaves its view drops the reads it holds; their clients time out and ask again elsewhere.
 */
import { decodeWith, readClientId } from './codec.js';
import { ClientRead, type ConfirmView, type ConfirmViewOk } from './messages.js';
import type { DraftPrimary, DraftState, StepContext } from './context.js';
import type { PendingRead, PrimaryReads } from './state.js';
import { measureClientInput } from './request-bounds.js';
import { addVote, hasQuorum, primaryOf } from './quorum.js';
import { assert, defined } from './assert.js';
import { PersistentQueue } from './persistent-queue.js';

/** A primary's reads at the start of its view: no round sent, nothing held. */
export const NO_READS: PrimaryReads = Object.freeze({ round: 0, votes: null, confirmedRound: 0, pending: PersistentQueue.empty<PendingRead>(), nextRoundReads: 0 });

/** Whether a client's input is a read ({clientId, readNumber, query}) rather than a request. */
export function isReadShaped(raw: unknown): boolean {
  if (raw === null || typeof raw !== 'object') return false;
  try {
    return 'readNumber' in raw && !('requestNumber' in raw);
  } catch {
    return false;
  }
}

export function onClientRead(s: DraftState, ctx: StepContext, raw: unknown): void {
  const read = checkRead(s, ctx, raw);
  if (read === null) return;
  const primary = s.primary;
  if (s.status !== 'normal' || primary === null) {
    const viewNumber = s.viewNumber;
    ctx.reply({ type: 'read-redirect', clientId: read.clientId, readNumber: read.readNumber, viewNumber, primary: primaryOf(viewNumber, ctx.replicaCount) });
    return;
  }
  const { readsPendingMax } = ctx.config.limits;
  const reads = primary.reads;
  if (reads.pending.size >= readsPendingMax) {
    const message = `the primary holds ${reads.pending.size} of ${readsPendingMax} reads; retry later`;
    ctx.reply({ type: 'read-error', clientId: read.clientId, readNumber: read.readNumber, code: 'busy', message });
    return;
  }
  const pending: PendingRead = { ...read, opNumber: s.log.lastOpNumber, round: reads.round + 1 };
  // With a round out, this read waits for the next one; with none, it goes now.
  const waitsForNext = reads.votes !== null;
  primary.reads = { ...reads, pending: reads.pending.push(pending), nextRoundReads: reads.nextRoundReads + (waitsForNext ? 1 : 0) };
  if (!waitsForNext) startRound(s, ctx, primary);
  assert(primary.reads.pending.size <= readsPendingMax, 'the primary holds at most readsPendingMax reads');
}

/**
 * Validates a read: its shape, its size, and its query against the machine's codec. Returns it
 * with the decoded query, or null after refusing it with a reason.
 */
function checkRead(s: DraftState, ctx: StepContext, raw: unknown): ClientRead | null {
  const decoded = decodeWith(ClientRead, raw, 'read');
  if (decoded._tag === 'Left') {
    const clientId = readClientId(raw);
    ctx.reject(s, decoded.left, 'client-read');
    if (clientId !== null) ctx.reply({ type: 'read-error', clientId, readNumber: null, code: 'invalid-read', message: decoded.left });
    return null;
  }
  // Only the three fields are kept: anything else a client attached is left here.
  const read: ClientRead = { clientId: decoded.right.clientId, readNumber: decoded.right.readNumber, query: decoded.right.query };
  const refuse = (code: 'invalid-read' | 'reads-unsupported', message: string): null => {
    ctx.reject(s, message, 'client-read');
    ctx.reply({ type: 'read-error', clientId: read.clientId, readNumber: read.readNumber, code, message });
    return null;
  };
  const measured = measureClientInput(read, ctx.config.limits, 'read');
  if (!measured.ok) return refuse('invalid-read', measured.reason);
  const machineReads = ctx.machine.reads;
  if (machineReads === undefined) return refuse('reads-unsupported', `read: the state machine ${ctx.machine.name} answers no queries: send the read as an operation`);
  const query = decodeWith(machineReads.query, read.query, 'read.query');
  if (query._tag === 'Left') return refuse('invalid-read', query.left);
  // The decoded query is what the machine answers (a codec may normalise what it accepts).
  return { ...read, query: query.right };
}

/** Sends the next confirmation round to every backup; the primary's own vote counts at once. */
function startRound(s: DraftState, ctx: StepContext, primary: DraftPrimary): void {
  assert(primary.reads.votes === null, 'one confirmation round is out at a time');
  const round = primary.reads.round + 1;
  // Every held read now waits for this round or an earlier one.
  primary.reads = { ...primary.reads, round, votes: [ctx.self], nextRoundReads: 0 };
  ctx.broadcast(s, { type: 'confirm-view', round });
  // A configuration of one replica is its own quorum.
  if (hasQuorum([ctx.self], ctx.replicaCount)) confirmRound(s, ctx, primary);
}

/** A backup confirms that it is in its primary's view, in normal status (from-primary.ts routed it here). */
export function onConfirmView(s: DraftState, ctx: StepContext, m: ConfirmView): void {
  assert(s.status === 'normal' && s.primary === null && m.viewNumber === s.viewNumber, 'a ConfirmView reaches a backup of its view');
  ctx.send(s, m.replica, { type: 'confirm-view-ok', round: m.round });
}

export function onConfirmViewOk(s: DraftState, ctx: StepContext, m: ConfirmViewOk): void {
  // Ignorable: another view, not the primary, a round already confirmed or replaced.
  const primary = s.primary;
  if (s.status !== 'normal' || primary === null || m.viewNumber !== s.viewNumber) return;
  const { votes, round } = primary.reads;
  if (votes === null || m.round !== round) return;
  assert(ctx.isPrimaryOf(s.viewNumber) && m.replica !== ctx.self, 'ConfirmViewOk reaches the primary of its view from a backup');
  primary.reads = { ...primary.reads, votes: addVote(votes, m.replica) };
  if (hasQuorum(primary.reads.votes ?? [], ctx.replicaCount)) confirmRound(s, ctx, primary);
}

function confirmRound(s: DraftState, ctx: StepContext, primary: DraftPrimary): void {
  const { round, votes } = primary.reads;
  assert(votes !== null && hasQuorum(votes, ctx.replicaCount), 'a round is confirmed by a quorum');
  primary.reads = { ...primary.reads, votes: null, confirmedRound: round };
  ctx.telemetry(s, 'vsr.read.confirmed', { round, pending: primary.reads.pending.size });
  answerReads(s, ctx);
  // Reads that arrived while this round was out wait for the next.
  if (primary.reads.nextRoundReads > 0) startRound(s, ctx, primary);
}

/**
 * Answers every held read whose round is confirmed and whose op is executed. Called after a
 * round is confirmed and after ops commit.
 */
export function answerReads(s: DraftState, ctx: StepContext): void {
  const primary = s.primary;
  if (primary === null || primary.reads.pending.size === 0) return;
  const { confirmedRound } = primary.reads;
  const machineReads = ctx.machine.reads;
  assert(machineReads !== undefined, 'reads are held only for a machine that answers queries');
  // Rounds and op numbers never decrease along the queue: the reads to answer are its oldest.
  let pending = primary.reads.pending.normalized();
  for (let read = pending.peek(); read !== undefined && read.round <= confirmedRound && read.opNumber <= s.commitNumber; read = pending.peek()) {
    // The query is the machine's own, decoded by checkRead.
    const result = machineReads.answer(s.app.value, read.query);
    ctx.reply({ type: 'read-reply', clientId: read.clientId, readNumber: read.readNumber, viewNumber: s.viewNumber, commitNumber: s.commitNumber, result });
    pending = defined(pending.take(), 'the read just peeked').rest.normalized();
  }
  if (pending.size < primary.reads.pending.size) primary.reads = { ...primary.reads, pending };
}

/** At the heartbeat: the round still out goes again, same number, to the backups that have not confirmed it. */
export function resendRound(s: DraftState, ctx: StepContext): void {
  const primary = s.primary;
  if (primary === null) return;
  const { votes, round } = primary.reads;
  if (votes === null) return;
  for (let backup = 0; backup < ctx.replicaCount; backup++) {
    if (backup !== ctx.self && !votes.includes(backup)) ctx.send(s, backup, { type: 'confirm-view', round });
  }
}
