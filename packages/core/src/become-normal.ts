/**
 * Entering normal status. A replica gets there four ways, and all four end the same: its log is
 * the view's log, so the view becomes its last normal view (this is the only place that changes:
 * design rule 3 of docs/protocol.md chooses a new view's log by it); whatever it was doing (a view
 * change, a recovery, a repair) is over; and the header saying so is durable before it speaks in
 * the view (design rule 8 of docs/protocol.md). The ways differ only in what they leave behind:
 * - `view-change`: the new primary started the view, or a backup installed StartView: the view
 *   change's timers stop;
 * - `recovery`: the recovering replica installed the primary's log: its retry timer stops, and
 *   as a backup it starts waiting to hear from the primary;
 * - `first-boot`: a replica formatted with a new cluster writes its first header;
 * - `restart`: a replica booted from storage that was normal in its view: the header is already
 *   durable and says just that, so nothing is written.
 * What the replica does next as primary or backup is the caller's.
 */
import type { DraftState, StepContext } from './context.js';
import { assert } from './assert.js';

export type NormalEntry = 'view-change' | 'recovery' | 'first-boot' | 'restart';

/** `commitNumber`: the commit number the new status comes with, within the installed log. */
export function becomeNormal(s: DraftState, ctx: StepContext, entry: NormalEntry, commitNumber: number): void {
  const from = s.status;
  // Only a StartView for a later view finds a replica already normal (in an older view).
  const expected =
    entry === 'view-change' ? from === 'view-change' || from === 'normal' : entry === 'recovery' ? from === 'recovering' : from === 'booting';
  assert(expected, () => `becoming normal by ${entry} from ${from} status`);
  // Callers install a log that holds the commit number they bring (checkLogClaim, chooseLog's op).
  assert(commitNumber <= s.log.lastOpNumber, () => `commit ${commitNumber} beyond the installed log's op ${s.log.lastOpNumber}`);
  assert(s.lastNormalView <= s.viewNumber, 'the last normal view is never after the view');
  s.status = 'normal';
  s.lastNormalView = s.viewNumber;
  s.viewChange = null;
  s.recovery = null;
  s.repairOpNumber = null;
  s.primary = null;
  s.commitNumberMax = Math.max(s.commitNumberMax, commitNumber);
  if (entry !== 'restart') ctx.emit({ kind: 'persist-header', header: { viewNumber: s.viewNumber, lastNormalView: s.lastNormalView } });
  switch (entry) {
    case 'view-change':
      ctx.cancelTimer('view-change-retry');
      ctx.cancelTimer('view-change-timeout');
      break;
    case 'recovery':
      ctx.cancelTimer('recovery-retry');
      ctx.setTimer('primary-timeout');
      break;
    case 'first-boot':
    case 'restart':
      break;
  }
  ctx.telemetry(s, 'vsr.status.change', { from, to: 'normal' });
  assert(s.commitNumber <= s.commitNumberMax, 'nothing is executed beyond the commit number known');
}
