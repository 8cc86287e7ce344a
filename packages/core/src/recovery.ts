/**
 * Recovery (VR Revisited §4.3): a replica whose storage is lost may have
 * acknowledged ops it no longer holds, so it must not rejoin as if fresh. It
 * asks every replica (Recovery, with a nonce from the interpreter), takes
 * part in no view change and acknowledges nothing, until it holds answers
 * from f + 1 distinct replicas, among them the primary of the latest view
 * those answers name; it then installs that primary's log and becomes a
 * backup of that view. Only replicas in normal status answer. If a majority
 * cannot answer (a majority lost its storage), the replica waits: it refuses
 * to serve rather than serve wrong data.
 */
import type { DraftState, StepContext } from './context.js';
import type { Recovery, RecoveryResponse } from './messages.js';
import type { RecoveryAnswer } from './state.js';
import { Log } from './log.js';
import { Opaque } from './state.js';
import { logSuffix } from './checkpoint.js';
import { primaryOf, quorumSize } from './quorum.js';
import { executeCommitted } from './execute.js';
import { sendPrepareOk } from './acknowledge.js';
import { becomeNormal } from './become-normal.js';
import { installSuffix } from './log-install.js';
import { checkRecoveryResponse } from './message-checks.js';
import { describeInput } from './describe-input.js';
import { assert, defined } from './assert.js';

export function beginRecovery(s: DraftState, ctx: StepContext, nonce: number): void {
  // Only at boot: a replica that has spoken cannot forget its state and start over.
  assert(s.status === 'booting' && s.recovery === null, 'recovery begins at boot');
  s.status = 'recovering';
  s.recovery = { nonce, responses: [] };
  // A lost disk is not trusted: the replica holds nothing until a quorum hands it the cluster's state.
  assert(s.log.lastOpNumber === 0 && s.commitNumber === 0 && s.checkpoint === null, 'a recovering replica starts from nothing');
  ctx.telemetry(s, 'vsr.status.change', { from: 'booting', to: 'recovering' });
  ctx.telemetry(s, 'vsr.recovery.start', { nonce });
  askForRecovery(s, ctx);
}

function askForRecovery(s: DraftState, ctx: StepContext): void {
  ctx.broadcast(s, { type: 'recovery', nonce: defined(s.recovery, 'the recovery of a recovering replica').nonce });
  ctx.setTimer('recovery-retry');
}

export function onRecoveryRetryTimeout(s: DraftState, ctx: StepContext): void {
  const recovery = s.recovery;
  if (s.status !== 'recovering' || recovery === null) return;
  // Say why this replica still refuses to serve: too few answers, or none from the latest view's primary.
  const latestView = Math.max(0, ...recovery.responses.map((answer) => answer.viewNumber));
  ctx.telemetry(s, 'vsr.recovery.waiting', {
    answers: recovery.responses.length,
    needed: quorumSize(ctx.replicaCount),
    primaryAnswered: recovery.responses.some((answer) => answer.viewNumber === latestView && answer.primaryState !== null),
  });
  askForRecovery(s, ctx);
}

/** A normal replica answers with its view; the primary adds its log and commit number. */
export function onRecovery(s: DraftState, ctx: StepContext, m: Recovery): void {
  if (s.status !== 'normal') return;
  // Only the primary's answer carries a log, and it must be the log of the view it names.
  assert((s.primary !== null) === ctx.isPrimaryOf(s.viewNumber), 'a normal replica has primary state exactly when it is the primary');
  let primaryState = null;
  if (s.primary !== null) {
    const { checkpoint, entries } = logSuffix(s);
    primaryState = { opNumber: s.log.lastOpNumber, commitNumber: s.commitNumberMax, checkpoint, log: entries };
  }
  ctx.send(s, m.replica, { type: 'recovery-response', nonce: m.nonce, primaryState });
}

export function onRecoveryResponse(s: DraftState, ctx: StepContext, m: RecoveryResponse): void {
  if (s.status !== 'recovering') return; // Stale: this replica is not recovering.
  const recovery = defined(s.recovery, 'the recovery of a recovering replica');
  if (m.nonce !== recovery.nonce) return; // An answer to an earlier recovery.
  const problem = checkRecoveryResponse(m, ctx.replicaCount);
  if (problem !== null) {
    ctx.reject(s, problem, describeInput(m));
    return;
  }
  const { primaryState } = m;
  const answer: RecoveryAnswer = {
    replica: m.replica,
    viewNumber: m.viewNumber,
    primaryState:
      primaryState === null
        ? null
        : {
            opNumber: primaryState.opNumber,
            commitNumber: primaryState.commitNumber,
            checkpoint: primaryState.checkpoint === null ? null : new Opaque(primaryState.checkpoint),
            log: Log.fromEntries(primaryState.log, primaryState.checkpoint?.opNumber ?? 0),
          },
  };
  recovery.responses = [...recovery.responses.filter((existing) => existing.replica !== m.replica), answer].sort(
    (a, b) => a.replica - b.replica,
  );
  // One answer per peer (the latest): a repeated answer never counts twice (design rule 1 of docs/protocol.md).
  assert(recovery.responses.length < ctx.replicaCount, 'at most one answer from each other replica');
  ctx.telemetry(s, 'vsr.recovery.response', { from: m.replica, responses: recovery.responses.length });
  maybeFinishRecovery(s, ctx);
}

function maybeFinishRecovery(s: DraftState, ctx: StepContext): void {
  const recovery = defined(s.recovery, 'the recovery of a recovering replica');
  const responses = recovery.responses;
  if (responses.length < quorumSize(ctx.replicaCount)) return;
  const latestView = Math.max(...responses.map((answer) => answer.viewNumber));
  const fromPrimary = responses.find((answer) => answer.viewNumber === latestView && answer.primaryState !== null);
  if (fromPrimary === undefined) return; // Wait for the primary of the latest view.
  const primaryState = defined(fromPrimary.primaryState, "the primary's state in the primary's answer");
  // checkRecoveryResponse kept only the primary's log; this replica never answers itself, so it
  // rejoins as a backup of that view.
  assert(fromPrimary.replica === primaryOf(latestView, ctx.replicaCount) && !ctx.isPrimaryOf(latestView), 'recovery completes from the answer of the latest view\'s primary');
  // Whatever a lost disk still holds (an earlier recovery cut short by a crash) is not ours to trust.
  ctx.emit({ kind: 'log-truncate', opNumber: 0 });
  const refusal = installSuffix(s, ctx, primaryState.checkpoint?.value ?? null, primaryState.log.toArray());
  if (refusal !== null) {
    ctx.reject(s, `recovery-response ${refusal}`, `recovery-response from replica ${fromPrimary.replica}`);
    recovery.responses = recovery.responses.filter((answer) => answer.replica !== fromPrimary.replica);
    return;
  }
  s.viewNumber = latestView;
  becomeNormal(s, ctx, 'recovery', primaryState.commitNumber);
  ctx.telemetry(s, 'vsr.recovery.complete', { primary: fromPrimary.replica, responses: responses.length });
  executeCommitted(s, ctx);
  if (s.log.lastOpNumber > s.commitNumber) sendPrepareOk(s, ctx);
}
