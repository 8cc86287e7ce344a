/**
 * Spurious view changes: a healthy cluster with nothing going wrong must keep its primary. A
 * replica that leaves normal status for a view change while every replica is up and normal, no
 * partition stands and no fault happened within a grace period (a few primary timeouts, slowed
 * by the worst clock drift, for the view changes a fault sets off to settle) is reported as a
 * violation of its own kind. Idle stretches (clients.ts lulls) are where it bites: an idle
 * primary must keep heartbeating.
 */
import { DEFAULT_TIMEOUTS, type ReplicaState } from '@vsr/core';
import type { WorldContext } from './context.js';

/** How many primary timeouts after the last fault a view change is still taken as its consequence. */
const GRACE_PRIMARY_TIMEOUTS = 4;

export class QuietWatch {
  private readonly graceMs: number;

  constructor(
    private readonly ctx: WorldContext,
    /** Every replica other than `replica` up and normal, and no partition standing. */
    private readonly othersSettled: (replica: number) => boolean,
  ) {
    const primaryTimeoutMs = ctx.options.timeouts?.primaryTimeoutMs ?? DEFAULT_TIMEOUTS.primaryTimeoutMs;
    this.graceMs = Math.ceil(GRACE_PRIMARY_TIMEOUTS * primaryTimeoutMs * (1 + ctx.rates.clockDrift));
  }

  /** After a step of `replica`: a normal replica that starts a view change needs a fault to explain it. */
  afterStep(replica: number, before: ReplicaState, after: ReplicaState): void {
    const ctx = this.ctx;
    if (before.status !== 'normal' || after.status !== 'view-change' || ctx.finished) return;
    const quietMs = ctx.nowMs - ctx.lastFaultMs;
    if (quietMs <= this.graceMs || !this.othersSettled(replica)) return;
    const since = Number.isFinite(ctx.lastFaultMs) ? `the last fault was at ${ctx.lastFaultMs} ms` : 'no fault in this run';
    ctx.fail(
      `spurious view change: replica ${replica} left view ${before.viewNumber} for view ${after.viewNumber} at ${ctx.nowMs} ms ` +
        `with every replica up and normal, no partition, and no fault for ${this.graceMs} ms (${since})`,
    );
  }
}
