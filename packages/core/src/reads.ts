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
 * Reads are batched: one round confirms every read that arrived before it was sent. Up to
 * readRoundsMax rounds are out at once (reads that arrive while that many are out wait for the
 * next). Confirmations are cumulative, as PrepareOk is: a backup that confirms round r received
 * it in the view after every read of an earlier round had arrived, so it confirms those rounds
 * too, and a lost or reordered answer is made good by any later one. The latest round, if a
 * quorum has not confirmed it, is resent with the same number at the next heartbeat. A primary
 * that leaves its view drops the reads it holds; their clients time out and ask again elsewhere.
 */
import { decodeWith, readClientId } from './codec.js';
import { ClientRead, type ConfirmView, type ConfirmViewOk } from './messages.js';
import type { DraftPrimary, DraftState, StepContext } from './context.js';
import type { PendingRead, PrimaryReads } from './state.js';
import { measureClientInput } from './request-bounds.js';
import { primaryOf, quorumSize } from './quorum.js';
import { assert, defined } from './assert.js';
import { PersistentQueue } from './persistent-queue.js';

/** A primary's reads at the start of its view: no round sent, nothing held. */
export function noReads(replicaCount: number): PrimaryReads {
  return { round: 0, confirmed: new Array<number>(replicaCount).fill(0), confirmedRound: 0, pending: PersistentQueue.empty<PendingRead>(), nextRoundReads: 0 };
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
  // With readRoundsMax rounds out, this read waits for the next one; else a round goes now.
  const waitsForNext = reads.round - reads.confirmedRound >= ctx.config.limits.readRoundsMax;
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

/** Sends the next confirmation round to every backup; the primary's own confirmation counts at once. */
function startRound(s: DraftState, ctx: StepContext, primary: DraftPrimary): void {
  assert(primary.reads.round - primary.reads.confirmedRound < ctx.config.limits.readRoundsMax, 'at most readRoundsMax confirmation rounds are out');
  const round = primary.reads.round + 1;
  // Every held read now waits for this round or an earlier one.
  primary.reads = { ...primary.reads, round, confirmed: withConfirmed(primary.reads.confirmed, ctx.self, round), nextRoundReads: 0 };
  ctx.broadcast(s, { type: 'confirm-view', round });
  // A configuration of one replica is its own quorum.
  advanceConfirmed(s, ctx, primary);
}

/** A backup confirms that it is in its primary's view, in normal status (from-primary.ts routed it here). */
export function onConfirmView(s: DraftState, ctx: StepContext, m: ConfirmView): void {
  assert(s.status === 'normal' && s.primary === null && m.viewNumber === s.viewNumber, 'a ConfirmView reaches a backup of its view');
  ctx.send(s, m.replica, { type: 'confirm-view-ok', round: m.round });
}

export function onConfirmViewOk(s: DraftState, ctx: StepContext, m: ConfirmViewOk): void {
  // Ignorable: another view, not the primary, a round this primary never sent, or one already
  // covered by a later confirmation from the same backup.
  const primary = s.primary;
  if (s.status !== 'normal' || primary === null || m.viewNumber !== s.viewNumber) return;
  const { confirmed, round } = primary.reads;
  if (m.round > round || m.round <= (confirmed[m.replica] ?? 0)) return;
  assert(ctx.isPrimaryOf(s.viewNumber) && m.replica !== ctx.self, 'ConfirmViewOk reaches the primary of its view from a backup');
  primary.reads = { ...primary.reads, confirmed: withConfirmed(confirmed, m.replica, m.round) };
  advanceConfirmed(s, ctx, primary);
}

function withConfirmed(confirmed: readonly number[], replicaId: number, round: number): number[] {
  const next = [...confirmed];
  next[replicaId] = round;
  return next;
}

/** Recomputes the round a quorum confirmed; if it moved, answers what it allows and sends a round for the reads that wait. */
function advanceConfirmed(s: DraftState, ctx: StepContext, primary: DraftPrimary): void {
  const { confirmed, confirmedRound } = primary.reads;
  // The (f + 1)-th largest: f + 1 replicas, the primary included, confirmed at least it.
  const byRound = [...confirmed].sort((a, b) => b - a);
  const quorumRound = defined(byRound[quorumSize(ctx.replicaCount) - 1], 'a confirmation per replica');
  assert(quorumRound >= confirmedRound, 'the round a quorum confirmed never goes back');
  if (quorumRound === confirmedRound) return;
  primary.reads = { ...primary.reads, confirmedRound: quorumRound };
  ctx.telemetry(s, 'vsr.read.confirmed', { round: quorumRound, pending: primary.reads.pending.size });
  answerReads(s, ctx);
  // Reads that arrived while readRoundsMax rounds were out wait for the next.
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
  // Kept even when nothing was answered: normalized once, the next peek is O(1) (the queue is the
  // same values), so reads that wait through many commits are not walked at each one.
  if (pending !== primary.reads.pending) primary.reads = { ...primary.reads, pending };
}

/** At the heartbeat: the latest round, if a quorum has not confirmed it, goes again (same number) to the backups that have not. */
export function resendRound(s: DraftState, ctx: StepContext): void {
  const primary = s.primary;
  if (primary === null) return;
  const { confirmed, confirmedRound, round } = primary.reads;
  if (confirmedRound === round) return;
  for (let backup = 0; backup < ctx.replicaCount; backup++) {
    if (backup !== ctx.self && (confirmed[backup] ?? 0) < round) ctx.send(s, backup, { type: 'confirm-view', round });
  }
}
