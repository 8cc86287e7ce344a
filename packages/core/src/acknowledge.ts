/**
 * The backup's acknowledgement (VR Revisited §4.1 step 4): PrepareOk names the
 * last op its log holds, and is cumulative, since a backup appends only the
 * next op: it holds every op up to the one it names. Normal operation, state
 * transfer, StartView and recovery all end with it when they leave the log
 * longer than what is executed.
 */
import type { DraftState, StepContext } from './context.js';
import { primaryOf } from './quorum.js';
import { assert } from './assert.js';

export function sendPrepareOk(s: DraftState, ctx: StepContext): void {
  // Only a backup in normal status acknowledges: a replica changing views takes nothing from the
  // old view (design rule 2 of docs/protocol.md), a recovering one acknowledges nothing until it
  // has recovered (§4.3), and a primary counts its own vote.
  assert(s.status === 'normal' && s.primary === null, 'PrepareOk is sent by a backup in normal status');
  const primary = primaryOf(s.viewNumber, ctx.replicaCount);
  ctx.send(s, primary, { type: 'prepare-ok', opNumber: s.log.lastOpNumber });
  ctx.telemetry(s, 'vsr.prepare_ok.sent', { opNumber: s.log.lastOpNumber });
}
