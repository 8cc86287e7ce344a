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
import { Log } from './log.js';
import { Opaque } from './state.js';
import { checkLogClaim, logSuffix } from './checkpoint.js';
import { primaryOf, quorumSize } from './quorum.js';
import { executeCommitted } from './execute.js';
import { describeInput, sendPrepareOk } from './normal.js';
import { installSuffix } from './view-change.js';
import { defined } from './assert.js';

export function beginRecovery(s: DraftState, ctx: StepContext, nonce: number): void {
  s.status = 'recovering';
  s.recovery = { nonce, responses: [] };
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
  let primaryState = null;
  if (s.primary !== null) {
    const { checkpoint, entries } = logSuffix(s);
    primaryState = { opNumber: s.log.lastOpNumber, commitNumber: s.commitNumberMax, checkpoint, log: entries };
  }
  ctx.send(s, m.replica, { type: 'recovery-response', nonce: m.nonce, primaryState });
}

export function onRecoveryResponse(s: DraftState, ctx: StepContext, m: RecoveryResponse): void {
  const recovery = s.recovery;
  if (s.status !== 'recovering' || recovery === null || m.nonce !== recovery.nonce) return; // Stale or not ours.
  const { primaryState } = m;
  if (primaryState !== null) {
    if (m.replica !== primaryOf(m.viewNumber, ctx.replicaCount)) {
      ctx.reject(s, `recovery-response with a log from replica ${m.replica}, not the primary of view ${m.viewNumber}`, describeInput(m));
      return;
    }
    const problem = checkLogClaim('RecoveryResponse', primaryState, m.viewNumber);
    if (problem !== null) {
      ctx.reject(s, problem, describeInput(m));
      return;
    }
  }
  const answer = {
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
  ) as never;
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
  // Whatever a lost disk still holds (an earlier recovery cut short by a crash) is not ours to trust.
  ctx.emit({ kind: 'log-truncate', opNumber: 0 });
  const refusal = installSuffix(s, ctx, primaryState.checkpoint?.value ?? null, primaryState.log.toArray());
  if (refusal !== null) {
    ctx.reject(s, `recovery-response ${refusal}`, `recovery-response from replica ${fromPrimary.replica}`);
    recovery.responses = recovery.responses.filter((answer) => answer.replica !== fromPrimary.replica) as never;
    return;
  }
  s.viewNumber = latestView;
  s.lastNormalView = latestView;
  s.status = 'normal';
  s.recovery = null;
  s.commitNumberMax = Math.max(s.commitNumberMax, primaryState.commitNumber);
  ctx.emit({ kind: 'persist-header', header: { viewNumber: s.viewNumber, lastNormalView: s.lastNormalView } });
  ctx.cancelTimer('recovery-retry');
  ctx.setTimer('primary-timeout');
  ctx.telemetry(s, 'vsr.status.change', { from: 'recovering', to: 'normal' });
  ctx.telemetry(s, 'vsr.recovery.complete', { primary: fromPrimary.replica, responses: responses.length });
  executeCommitted(s, ctx);
  if (s.log.lastOpNumber > s.commitNumber) sendPrepareOk(s, ctx);
}
