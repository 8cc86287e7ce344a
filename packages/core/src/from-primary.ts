/**
 * What the primary of a view sends during normal operation (Prepare, Commit, ConfirmView, NewState), routed
 * by its view; replica.ts has already checked that the sender is that primary (design rule 9 of
 * docs/protocol.md). From an older view: stale. From a later view: this replica missed a view
 * change, so it joins that view; the view's primary answers its StartViewChange with StartView,
 * which carries the log to install, so it never truncates on a guess (§5.2 done safely, design
 * rule 7 of docs/protocol.md). From its own view: only while normal; once a replica starts a
 * view change it accepts nothing from the old view (§8.1, design rule 2 of docs/protocol.md).
 */
import type { DraftState, StepContext } from './context.js';
import type { Commit, ConfirmView, NewState, Prepare } from './messages.js';
import { onConfirmView } from './reads.js';
import { onCommit, onPrepare } from './normal.js';
import { onNewState } from './state-transfer.js';
import { startViewChange } from './view-change.js';
import { assert } from './assert.js';

export function routeFromPrimary(s: DraftState, ctx: StepContext, m: Prepare | Commit | ConfirmView | NewState): void {
  if (m.viewNumber < s.viewNumber) return;
  if (m.viewNumber > s.viewNumber) {
    startViewChange(s, ctx, m.viewNumber);
    return;
  }
  if (s.status !== 'normal') return;
  // The sender is the primary of this view and not this replica, so this replica is a backup here.
  assert(s.primary === null && !ctx.isPrimaryOf(s.viewNumber), 'a message from the primary of a view reaches only its backups');
  if (m.type === 'prepare') return onPrepare(s, ctx, m);
  if (m.type === 'commit') return onCommit(s, ctx, m);
  if (m.type === 'confirm-view') return onConfirmView(s, ctx, m);
  return onNewState(s, ctx, m);
}
