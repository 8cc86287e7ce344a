/**
 * What a peer's message claims, checked beyond its codec. The codec (messages.ts) proves a
 * message well-typed; these checks prove it coherent: its numbers agree with each other and
 * with the entries it carries, and it reaches a replica that can act on it. A message that fails
 * one is refused with the reason returned, and nothing changes: any message may be hostile
 * (docs/protocol.md, "Sender validation and untrusted input").
 */
import type { DraftState, StepContext } from './context.js';
import type { DoViewChange, LogEntry, NewState, Prepare, RecoveryResponse, StartView } from './messages.js';
import { checkSegment } from './log.js';
import { primaryOf } from './quorum.js';
import { describeInput } from './describe-input.js';

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

export function checkPrepare(m: Prepare): string | null {
  if (m.entry.opNumber !== m.opNumber) return `Prepare for op ${m.opNumber} carries entry ${m.entry.opNumber}`;
  // An op inherited from an earlier view keeps its view; none can come from a later one.
  if (m.entry.viewNumber > m.viewNumber) {
    return `Prepare in view ${m.viewNumber} carries an entry of view ${m.entry.viewNumber}`;
  }
  if (m.commitNumber >= m.opNumber) return `Prepare for op ${m.opNumber} claims commit ${m.commitNumber}`;
  return null;
}

export function checkDoViewChange(m: DoViewChange): string | null {
  if (m.lastNormalView >= m.viewNumber) {
    return `DoViewChange for view ${m.viewNumber} claims last normal view ${m.lastNormalView}`;
  }
  return checkLogClaim('DoViewChange', m, m.lastNormalView);
}

export function checkStartView(m: StartView): string | null {
  return checkLogClaim('StartView', m, m.viewNumber);
}

/** NewState carries a segment of its view's log, after its checkpoint when it carries one. */
export function checkNewState(m: NewState): string | null {
  const segmentProblem = checkSegment(m.entries, m.opNumber, m.viewNumber);
  if (segmentProblem !== null) return `NewState is not a log segment: ${segmentProblem}`;
  if (m.checkpoint !== null && m.checkpoint.opNumber !== m.opNumber) {
    return `NewState entries follow op ${m.opNumber}, not its checkpoint's op ${m.checkpoint.opNumber}`;
  }
  return null;
}

/** Only the primary of the view an answer names may add its log to it, and that log must be coherent. */
export function checkRecoveryResponse(m: RecoveryResponse, replicaCount: number): string | null {
  if (m.primaryState === null) return null;
  if (m.replica !== primaryOf(m.viewNumber, replicaCount)) {
    return `recovery-response with a log from replica ${m.replica}, not the primary of view ${m.viewNumber}`;
  }
  return checkLogClaim('RecoveryResponse', m.primaryState, m.viewNumber);
}

/**
 * For messages a backup sends the primary of its view about an op the primary
 * must hold (PrepareOk, GetState): false, after rejecting what is malformed,
 * unless this replica is that primary, in that view, and holds the op.
 */
export function reachesPrimaryWithinLog(
  s: DraftState,
  ctx: StepContext,
  m: { type: string; replica: number; viewNumber: number; opNumber: number },
): boolean {
  if (m.viewNumber !== s.viewNumber || s.status !== 'normal') return false; // Another view: stale or premature.
  if (s.primary === null) {
    ctx.reject(s, `${m.type} for view ${m.viewNumber} sent to a replica that is not its primary`, describeInput(m));
    return false;
  }
  if (m.opNumber > s.log.lastOpNumber) {
    ctx.reject(s, `${m.type} names op ${m.opNumber}, beyond the primary's op ${s.log.lastOpNumber}`, describeInput(m));
    return false;
  }
  return true;
}
