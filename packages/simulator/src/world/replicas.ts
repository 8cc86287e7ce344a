/**
 * The replicas: each runs `step` and the world carries out its effects under the effect
 * contract (docs/architecture.md). Storage effects go to a per-replica `MemoryDisk` as pending
 * writes; one simulated fsync makes them durable (group commit) and only then releases the
 * sends and replies queued behind them. Checkpoints take the contract's one relaxation: they
 * are written in the background, sends do not wait for them, and a log release (with every
 * write after it) waits until a checkpoint covering it has landed.
 */
import {
  EffectBarrier,
  initialState,
  primaryOf,
  step,
  type Effect,
  type Event,
  type ReplicaState,
  type StateMachine,
  type TimerName,
} from '@vsr/core';
import { MemoryDisk, SafetyMonitor, SafetyViolation, type StorageEffect } from '@vsr/testing';
import type { WorldContext } from './context.js';
import type { Network } from './network.js';
import { QuietWatch } from './quiet.js';

export interface ReplicaProcess {
  state: ReplicaState;
  up: boolean;
  incarnation: number;
  timers: Map<TimerName, number>;
  /** Timers run at (1 + drift) × their nominal duration. */
  readonly drift: number;
  /** What is durable, what waits in the cache for an fsync, and the checkpoints written in the background. */
  readonly disk: MemoryDisk;
  fsyncScheduled: boolean;
  /** Sends and replies waiting for the writes before them to become durable (numbered per incarnation). */
  readonly barrier: EffectBarrier<() => void>;
  checkpointWriteScheduled: boolean;
}

const DEFAULT_CHECKPOINT_INTERVAL_OPS = 64;

export class Replicas {
  readonly processes: ReplicaProcess[] = [];
  readonly monitor: SafetyMonitor;
  private readonly quiet: QuietWatch;
  private nextTimerGeneration = 1;
  /** The highest op number any primary has committed: commit numbers come only from primaries. */
  private committedMax = 0;
  /** For each recovering replica, what the primaries had committed when its recovery began. */
  private readonly committedAtRecoveryStart = new Map<number, number>();

  constructor(
    private readonly ctx: WorldContext,
    private readonly machine: StateMachine,
    private readonly network: Network,
    /** The client a reply is for, by its current client id (undefined: that session is gone). */
    private readonly clientIndexOf: (clientId: string) => number | undefined,
  ) {
    this.monitor = new SafetyMonitor(ctx.options.replicaCount, { stateInvariants: ctx.options.stateInvariants ?? true });
    this.quiet = new QuietWatch(ctx, (replica) => this.othersSettled(replica));
  }

  /** Every replica but this one up and normal, and no partition standing. */
  private othersSettled(replica: number): boolean {
    if (this.network.partitioned) return false;
    return this.processes.every((process, r) => r === replica || (process.up && process.state.status === 'normal'));
  }

  /** Every replica formatted with the new cluster, booted with empty storage; each draws its clock drift. */
  start(): void {
    const { options, rates, faultRandom } = this.ctx;
    for (let r = 0; r < options.replicaCount; r++) {
      const drift = rates.clockDrift > 0 ? (faultRandom.float() * 2 - 1) * rates.clockDrift : 0;
      this.processes.push({
        state: this.newState(r),
        up: true,
        incarnation: 0,
        timers: new Map(),
        drift,
        disk: new MemoryDisk(`replica ${r}'s disk`),
        fsyncScheduled: false,
        barrier: new EffectBarrier<() => void>(),
        checkpointWriteScheduled: false,
      });
    }
    for (let r = 0; r < options.replicaCount; r++) this.runStep(r, { kind: 'boot', storage: null });
  }

  newState(replicaId: number): ReplicaState {
    const options = this.ctx.options;
    return initialState(
      {
        replicaId,
        replicaCount: options.replicaCount,
        timeouts: options.timeouts ?? {},
        // Checkpoints every 64 ops unless told otherwise, so runs exercise them.
        limits: { checkpointIntervalOps: DEFAULT_CHECKPOINT_INTERVAL_OPS, ...options.limits },
      },
      this.machine,
    );
  }

  get(replica: number): ReplicaProcess {
    const process = this.processes[replica];
    if (process === undefined) throw new Error(`no replica ${replica}`);
    return process;
  }

  runStep(replica: number, event: Event): void {
    const ctx = this.ctx;
    const process = this.get(replica);
    const before = process.state;
    const [state, effects] = step(before, event);
    process.state = state;
    ctx.counters.steps++;
    if (state.log.size > ctx.counters.logEntriesMax) ctx.counters.logEntriesMax = state.log.size;
    this.monitor.afterStep(replica, state);
    this.quiet.afterStep(replica, before, state);
    this.checkCommitPoint(replica, state);
    this.checkRecoveryFreshness(replica, before, state);
    if (
      ctx.tracing &&
      (state.viewNumber !== before.viewNumber || state.status !== before.status || state.commitNumber !== before.commitNumber)
    ) {
      ctx.recorder.push({
        atMs: ctx.nowMs,
        kind: 'state',
        replicaId: replica,
        viewNumber: state.viewNumber,
        status: state.status,
        opNumber: state.log.lastOpNumber,
        commitNumber: state.commitNumber,
      });
    }
    this.carryOut(replica, effects);
  }

  /** The commit point: no replica executes past what some primary has committed (an uncommitted op may yet be replaced). */
  private checkCommitPoint(replica: number, state: ReplicaState): void {
    if (state.status === 'normal' && primaryOf(state.viewNumber, this.ctx.options.replicaCount) === replica) {
      this.committedMax = Math.max(this.committedMax, state.commitNumberMax);
    } else if (state.commitNumber > this.committedMax) {
      throw new SafetyViolation(
        `commit point: replica ${replica} executed through op ${state.commitNumber}, but no primary has committed past op ${this.committedMax}`,
      );
    }
  }

  /**
   * Recovery is fresh (VR Revisited §4.3): every answer it may use was sent after it began (the
   * nonce), and a quorum of them includes a replica that holds every op committed by then, so
   * the state it rejoins with holds them all. An answer kept from an earlier recovery, or from
   * an earlier incarnation, can be older than that.
   */
  private checkRecoveryFreshness(replica: number, before: ReplicaState, state: ReplicaState): void {
    if (state.status === 'recovering' && before.status !== 'recovering') {
      this.committedAtRecoveryStart.set(replica, this.committedMax);
      return;
    }
    if (before.status !== 'recovering' || state.status === 'recovering') return;
    const committed = this.committedAtRecoveryStart.get(replica) ?? 0;
    this.committedAtRecoveryStart.delete(replica);
    if (state.log.lastOpNumber < committed) {
      throw new SafetyViolation(
        `stale recovery: replica ${replica} recovered through op ${state.log.lastOpNumber}, but op ${committed} was committed before its recovery began`,
      );
    }
  }

  /** The effect contract: one step's effects, in order. */
  private carryOut(replica: number, effects: readonly Effect[]): void {
    const process = this.get(replica);
    for (const effect of effects) {
      switch (effect.kind) {
        case 'send': {
          const { to, message } = effect;
          this.outgoing(process, () => this.network.sendMessage(replica, to, message));
          break;
        }
        case 'reply': {
          const reply = effect.reply;
          if (reply.type === 'reply') this.monitor.answered(replica, process.state, reply.opNumber, reply.viewNumber);
          const client = this.clientIndexOf(reply.clientId);
          if (client !== undefined) this.outgoing(process, () => this.network.sendReply(client, reply));
          break;
        }
        case 'log-append':
        case 'log-truncate':
        case 'log-release':
          this.write(replica, effect);
          break;
        case 'persist-checkpoint':
          this.writeCheckpoint(replica, effect.checkpoint);
          break;
        case 'persist-header':
          if (this.ctx.options.bugs?.skipHeaderWrites === true) break;
          this.write(replica, effect);
          break;
        case 'set-timer':
          this.setTimer(replica, effect.timer, effect.afterMs);
          break;
        case 'cancel-timer':
          process.timers.delete(effect.timer);
          break;
        case 'telemetry':
          this.count(effect.event);
          break;
        case 'reject':
          this.ctx.counters.rejectedInputs++;
          break;
      }
    }
  }

  private setTimer(replica: number, timer: TimerName, afterMs: number): void {
    const process = this.get(replica);
    const generation = this.nextTimerGeneration++;
    process.timers.set(timer, generation);
    const driftedMs = Math.max(1, Math.round(afterMs * (1 + process.drift)));
    this.ctx.queue.push(this.ctx.nowMs + driftedMs, { kind: 'timer', replica, timer, generation });
  }

  private count(event: Extract<Effect, { kind: 'telemetry' }>['event']): void {
    const counters = this.ctx.counters;
    if (event.name === 'vsr.view_change.complete' && typeof event.data.chosenFrom === 'number') counters.viewsCompleted.add(event.viewNumber);
    if (event.name === 'vsr.recovery.complete') counters.recoveries++;
    if (event.name === 'vsr.state_transfer.received') counters.stateTransfers++;
    if (event.name === 'vsr.checkpoint.taken') counters.checkpoints++;
    if (event.name === 'vsr.checkpoint.installed') counters.checkpointsInstalled++;
  }

  /** In the background: sends do not wait for it; a release that relies on it does. */
  private writeCheckpoint(replica: number, checkpoint: Extract<Effect, { kind: 'persist-checkpoint' }>['checkpoint']): void {
    const process = this.get(replica);
    process.disk.writeCheckpointInBackground(checkpoint);
    if (!process.checkpointWriteScheduled) this.scheduleCheckpointLanding(replica);
  }

  private scheduleCheckpointLanding(replica: number): void {
    const { queue, nowMs, faultRandom, rates } = this.ctx;
    const process = this.get(replica);
    process.checkpointWriteScheduled = true;
    queue.push(nowMs + faultRandom.int(rates.fsyncMinMs, 4 * rates.fsyncMaxMs), {
      kind: 'checkpoint-written',
      replica,
      incarnation: process.incarnation,
    });
  }

  /** A storage write into the disk's cache; it also joins the effect stream the barrier orders sends by. */
  private write(replica: number, effect: StorageEffect): void {
    const process = this.get(replica);
    process.disk.write(effect);
    process.barrier.write();
    this.scheduleFsync(replica);
  }

  private scheduleFsync(replica: number): void {
    const { queue, nowMs, faultRandom, rates } = this.ctx;
    const process = this.get(replica);
    if (process.fsyncScheduled || process.disk.cached === 0) return;
    process.fsyncScheduled = true;
    queue.push(nowMs + faultRandom.int(rates.fsyncMinMs, rates.fsyncMaxMs), { kind: 'fsync', replica, incarnation: process.incarnation });
  }

  /** A send or reply leaves only once every write before it is durable (the effect barrier). */
  private outgoing(process: ReplicaProcess, send: () => void): void {
    if (this.ctx.options.bugs?.sendBeforeDurable === true || process.barrier.admit(send)) send();
  }

  /** How many of the cached writes may reach the disk now: all, up to a release its checkpoint does not yet cover. */
  writable(process: ReplicaProcess): number {
    if (this.ctx.options.bugs?.releaseBeforeCheckpoint === true) return process.disk.cached;
    return process.disk.writable();
  }

  /** Group commit: one fsync makes the cached writes durable (up to a release still waiting for its checkpoint), then releases the sends that waited. */
  onFsync(replica: number, incarnation: number): void {
    const process = this.get(replica);
    if (process.incarnation !== incarnation) return;
    process.fsyncScheduled = false;
    const count = this.writable(process);
    process.disk.sync(count);
    for (const send of process.barrier.durableThrough(process.barrier.writesDurable + count)) send();
    // A release waiting for its checkpoint is retried when the checkpoint is written.
    if (process.disk.cached > 0 && this.writable(process) > 0) this.scheduleFsync(replica);
  }

  onCheckpointWritten(replica: number, incarnation: number): void {
    const process = this.get(replica);
    if (process.incarnation !== incarnation) return;
    process.checkpointWriteScheduled = false;
    if (!process.disk.landCheckpoint()) return;
    if (process.disk.checkpointsWriting > 0) this.scheduleCheckpointLanding(replica);
    this.scheduleFsync(replica);
  }

  /** Replicas that cannot vote: down, or up but still recovering. */
  unavailable(): number {
    return this.processes.filter((process) => !process.up || process.state.status === 'recovering').length;
  }

  /** What each replica is doing, for a violation's message. */
  describe(): string {
    return this.processes
      .map(({ state, up }, r) =>
        up
          ? `r${r} ${state.status} v${state.viewNumber} op${state.log.lastOpNumber} c${state.commitNumber} base${state.log.baseOpNumber}`
          : `r${r} down`,
      )
      .join(', ');
  }
}
