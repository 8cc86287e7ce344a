/**
 * The world's progress checks. Liveness: once the faults have healed (or, in a partial heal,
 * all but f replicas), every request completes within a bound. Convergence: after the workload, every replica reaches one view, one commit
 * number and identical application state. Budgets: a run that exceeds its simulated time or
 * its events ends as a liveness violation, so every seed ends, whatever the bug.
 */
import type { ReplicaState } from '@vsr/core';
import type { Clients } from './clients.js';
import type { WorldContext } from './context.js';
import type { Replicas } from './replicas.js';
import type { SimulationOptions } from './types.js';

const DEFAULT_LIVENESS_BOUND_MS = 30_000;
const LIVENESS_CHECK_EVERY_MS = 1_000;
const CONVERGENCE_BOUND_MS = 10_000;
const CONVERGENCE_CHECK_EVERY_MS = 50;

export function livenessBoundMs(options: SimulationOptions<unknown, unknown, unknown>): number {
  return options.livenessBoundMs ?? DEFAULT_LIVENESS_BOUND_MS;
}

export function livenessCheckEveryMs(options: SimulationOptions<unknown, unknown, unknown>): number {
  return Math.max(1, Math.min(LIVENESS_CHECK_EVERY_MS, Math.floor(livenessBoundMs(options) / 2)));
}

/** The budgets of a run: generous enough that a healthy run never meets them. */
export function budgets(options: SimulationOptions<unknown, unknown, unknown>): { simulatedMsMax: number; eventsMax: number } {
  return {
    simulatedMsMax: options.simulatedMsMax ?? 600_000 + 2_000 * options.requests,
    eventsMax: options.eventsMax ?? 1_000_000 + 5_000 * options.requests,
  };
}

export class Progress {
  private convergenceDeadlineMs = Number.POSITIVE_INFINITY;
  private readonly budget: { simulatedMsMax: number; eventsMax: number };
  converged = false;

  constructor(
    private readonly ctx: WorldContext,
    private readonly replicas: Replicas,
    private readonly clients: Clients,
    /** The application state replicas must agree on, as comparable text. */
    private readonly snapshotText: (state: ReplicaState) => string,
  ) {
    this.budget = budgets(ctx.options);
  }

  onLivenessCheck(): void {
    const ctx = this.ctx;
    if (ctx.finished) return;
    const boundMs = livenessBoundMs(ctx.options);
    const stuck = this.clients.stuck(boundMs);
    if (stuck.length > 0) {
      const partial = ctx.leftOut.length > 0 ? `; a partial heal left out ${ctx.leftOut.map((r) => `r${r}`).join(', ')}: the quorum core must answer` : '';
      ctx.fail(
        `liveness: ${stuck.length} request(s) still unanswered ${boundMs} ms after the faults healed ` +
          `(${stuck.join(', ')}; ${this.replicas.describe()})${partial}`,
      );
      return;
    }
    ctx.queue.push(ctx.nowMs + livenessCheckEveryMs(ctx.options), { kind: 'liveness-check' });
  }

  /** The workload is over: convergence must follow within its bound. */
  workloadDone(): void {
    this.convergenceDeadlineMs = this.ctx.nowMs + CONVERGENCE_BOUND_MS;
    this.ctx.queue.push(this.ctx.nowMs + 1, { kind: 'convergence-check' });
  }

  /** Every replica normal in one view, at one commit number, with the same application state. */
  onConvergenceCheck(): void {
    const ctx = this.ctx;
    if (this.agreed()) {
      this.converged = true;
      ctx.finished = true;
      return;
    }
    if (ctx.nowMs >= this.convergenceDeadlineMs) {
      ctx.fail(`convergence: replicas differ ${CONVERGENCE_BOUND_MS} ms after the workload ended: ${this.replicas.describe()}`);
      return;
    }
    ctx.queue.push(ctx.nowMs + CONVERGENCE_CHECK_EVERY_MS, { kind: 'convergence-check' });
  }

  private agreed(): boolean {
    const processes = this.replicas.processes;
    const states = processes.map((process) => process.state);
    const first = states[0];
    if (first === undefined || !processes.every((process) => process.up)) return false;
    const sameProgress = states.every(
      (state) =>
        state.status === 'normal' &&
        state.viewNumber === first.viewNumber &&
        state.commitNumber === first.commitNumber &&
        state.log.lastOpNumber === state.commitNumber,
    );
    if (!sameProgress) return false;
    const firstText = this.snapshotText(first);
    return states.every((state) => this.snapshotText(state) === firstText);
  }

  /** Ends a run that has spent its budget of simulated time or events, naming what each replica was doing. */
  overBudget(): boolean {
    const ctx = this.ctx;
    const spent =
      ctx.nowMs > this.budget.simulatedMsMax
        ? `${this.budget.simulatedMsMax} ms of simulated time`
        : ctx.counters.events > this.budget.eventsMax
          ? `${this.budget.eventsMax} events`
          : null;
    if (spent === null) return false;
    const outstanding = this.clients.outstanding();
    ctx.fail(
      `liveness: the run spent its budget of ${spent} without finishing ` +
        `(${ctx.counters.requestsOk} of ${ctx.options.requests} requests answered; ` +
        `${outstanding.length > 0 ? `waiting: ${outstanding.join(', ')}; ` : ''}${this.replicas.describe()})`,
    );
    return true;
  }
}
