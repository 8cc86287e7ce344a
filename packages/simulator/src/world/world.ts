/**
 * One simulated world: n replicas of @vsr/core running the user's machine, a few clients
 * running the user's workload, a network, disks and a clock, all driven by one seeded PRNG and
 * one event queue. The same seed on the same code replays the same run, event for event
 * (`trace_digest` proves it). Faults run while the workload is under way; then everything
 * heals and the run checks liveness, convergence, exactly-once execution, determinism of the
 * machine and linearizability against the model.
 */
import { InvariantError, type ReplicaState, type StateMachine } from '@vsr/core';
import { kvMachine } from '@vsr/kv';
import { SafetyViolation } from '@vsr/testing';
import { checkLinearizability, type HistoryOperation } from '../linearizability.js';
import { countedMachine, type Counted } from '../machine.js';
import type { Model, Workload } from '../model.js';
import { kvWorkload } from '../workload.js';
import { Clients } from './clients.js';
import { WorldContext } from './context.js';
import { DeterminismWatch } from './determinism.js';
import type { WorldEvent } from './events.js';
import { Progress } from './liveness.js';
import { checkModelHistory } from './model-check.js';
import { Nemesis } from './nemesis.js';
import { Network } from './network.js';
import { Replicas } from './replicas.js';
import { summarize } from './summary.js';
import type { SimulationOptions, SimulationResult } from './types.js';

interface Service {
  readonly machine: StateMachine;
  readonly workload: Workload<unknown, unknown>;
  /** Null: the key-value machine, checked by `checkLinearizability`. */
  readonly model: Model<unknown, unknown, unknown> | null;
}

/** The user's machine, workload and model, or the key-value defaults; all three or none. */
function serviceOf(options: SimulationOptions<unknown, unknown, unknown>): Service {
  const { machine, workload, model } = options;
  if (machine === undefined && workload === undefined && model === undefined) {
    return { machine: kvMachine, workload: kvWorkload(), model: null };
  }
  if (machine === undefined || workload === undefined || model === undefined) {
    const missing = [machine === undefined ? 'machine' : '', workload === undefined ? 'workload' : '', model === undefined ? 'model' : ''];
    throw new Error(`simulate: a user's service needs a machine, a workload and a model; missing ${missing.filter(Boolean).join(', ')}`);
  }
  return { machine, workload: typeof workload === 'function' ? workload() : workload, model: model };
}

export class World {
  private readonly ctx: WorldContext;
  private readonly service: Service;
  private readonly watch = new DeterminismWatch();
  private readonly network: Network;
  private readonly replicas: Replicas;
  private readonly clients: Clients;
  private readonly nemesis: Nemesis;
  private readonly progress: Progress;

  constructor(private readonly options: SimulationOptions<unknown, unknown, unknown>) {
    if (options.replicaCount < 1) throw new Error('--replicas: at least one replica');
    if (options.clientCount < 1) throw new Error('--clients: at least one client');
    if (options.requests < 0) throw new Error('--requests: cannot be negative');
    this.ctx = new WorldContext(options);
    this.service = serviceOf(options);
    const machine = this.service.machine;
    const counted = countedMachine(this.watch.watch(machine)) as StateMachine;
    this.network = new Network(this.ctx);
    this.clients = new Clients(this.ctx, this.service.workload, this.network, counted.reads, {
      endFaults: () => this.nemesis.endFaults(),
      workloadDone: () => {
        this.nemesis.endFaults();
        this.nemesis.healAll();
        this.progress.workloadDone();
      },
    });
    this.replicas = new Replicas(this.ctx, counted, this.network, (clientId) => this.clients.indexOf(clientId));
    this.nemesis = new Nemesis(this.ctx, this.replicas, this.network);
    const snapshotText = (state: ReplicaState) => JSON.stringify(machine.snapshot((state.app.value as Counted<unknown>).app));
    this.progress = new Progress(this.ctx, this.replicas, this.clients, snapshotText);
  }

  run(): SimulationResult<unknown, unknown> {
    const startedMs = Date.now();
    this.replicas.start();
    this.clients.start();
    this.nemesis.start();
    if (this.options.requests === 0) this.nemesis.endFaults();
    this.runEvents();
    const linearizable = this.checkHistory();
    const wallMs = Date.now() - startedMs;
    const summary = summarize(this.ctx, this.replicas, this.clients.history, { linearizable, converged: this.progress.converged, wallMs });
    return { summary, history: this.clients.history, trace: this.ctx.recorder.trace };
  }

  /** Runs the world until it finishes, runs out of events or budget, or a safety check fails. */
  private runEvents(): void {
    const ctx = this.ctx;
    while (!ctx.finished) {
      const next = ctx.queue.pop();
      if (next === undefined) {
        ctx.recorder.violation('the world ran out of events (no timers armed)');
        return;
      }
      ctx.nowMs = next.atMs;
      ctx.counters.events++;
      if (this.progress.overBudget()) return;
      try {
        this.handle(next.event);
      } catch (error) {
        // A core assertion that fires is a bug found, reported with the seed like any violation.
        if (error instanceof InvariantError) ctx.recorder.violation(`a core assertion failed: ${error.message}`);
        else if (error instanceof SafetyViolation) ctx.recorder.violation(error.message);
        else throw error;
        return;
      }
      if (this.watch.divergence !== null) return ctx.fail(this.watch.divergence);
    }
  }

  /** The checks made on the whole run: linearizability of the history, and no request executed twice. */
  private checkHistory(): boolean {
    const linearizable = this.checkLinearizable();
    for (const [r, process] of this.replicas.processes.entries()) {
      const duplicates = (process.state.app.value as Counted<unknown>).duplicates;
      if (duplicates > 0) this.ctx.recorder.violation(`replica ${r} executed ${duplicates} request(s) twice`);
    }
    return linearizable;
  }

  private checkLinearizable(): boolean {
    const history = this.clients.history;
    const model = this.service.model;
    if (model === null) {
      const result = checkLinearizability(history as HistoryOperation[]);
      if (!result.linearizable) {
        const example = result.counterexample;
        this.ctx.recorder.violation(`linearizability: ${example ? `key ${example.key}: ${example.explanation}` : 'search exhausted'}`);
      }
      return result.linearizable;
    }
    const result = checkModelHistory(model, history);
    if (result.verdict === 'not-linearizable') this.ctx.recorder.violation(`linearizability: ${model.name}: ${result.explanation}`);
    if (result.verdict === 'unknown') this.ctx.recorder.violation(`linearizability unknown: ${model.name}: ${result.reason}`);
    return result.verdict === 'linearizable';
  }

  private handle(event: WorldEvent): void {
    switch (event.kind) {
      case 'deliver':
      case 'request':
      case 'timer':
        return this.handleReplicaEvent(event);
      case 'reply':
        this.ctx.recorder.record(`p${event.client}`);
        return this.clients.onReply(this.clients.get(event.client), event.reply);
      case 'fsync':
        return this.replicas.onFsync(event.replica, event.incarnation);
      case 'checkpoint-written':
        return this.replicas.onCheckpointWritten(event.replica, event.incarnation);
      case 'client-timeout':
        return this.clients.onTimeout(this.clients.get(event.client), event.generation);
      case 'client-next':
        return this.clients.next(this.clients.get(event.client));
      case 'crash-tick':
        return this.nemesis.onCrashTick();
      case 'wipe-tick':
        return this.nemesis.onWipeTick();
      case 'corrupt-tick':
        return this.nemesis.onCorruptTick();
      case 'partition-tick':
        return this.nemesis.onPartitionTick();
      case 'restart':
        return this.nemesis.restart(event.replica);
      case 'heal-partition':
        return this.network.healPartition(event.partition);
      case 'convergence-check':
        return this.progress.onConvergenceCheck();
      case 'liveness-check':
        return this.progress.onLivenessCheck();
      case 'scheduled':
        return this.nemesis.onScheduledFault(event.fault);
    }
  }

  private handleReplicaEvent(event: Extract<WorldEvent, { kind: 'deliver' | 'request' | 'timer' }>): void {
    const ctx = this.ctx;
    switch (event.kind) {
      case 'deliver': {
        const process = this.replicas.get(event.to);
        if (!process.up || this.network.isBlocked(event.from, event.to)) return this.network.drop(event.id, process.up ? 'partition' : 'down');
        ctx.recorder.record(`d${event.id}`);
        if (ctx.tracing) ctx.recorder.push({ atMs: ctx.nowMs, kind: 'deliver', id: event.id, to: event.to });
        return this.replicas.runStep(event.to, { kind: 'message', message: event.message });
      }
      case 'request':
        if (!this.replicas.get(event.to).up) return;
        ctx.recorder.record(`q${event.client}>${event.to}`);
        return this.replicas.runStep(event.to, { kind: 'client-request', request: event.request, receivedAtMs: ctx.nowMs });
      case 'timer': {
        const process = this.replicas.get(event.replica);
        if (!process.up || process.timers.get(event.timer) !== event.generation) return;
        process.timers.delete(event.timer);
        ctx.recorder.record(`t${event.replica}${event.timer}`);
        if (ctx.tracing) ctx.recorder.push({ atMs: ctx.nowMs, kind: 'timer', replicaId: event.replica, timer: event.timer });
        return this.replicas.runStep(event.replica, { kind: 'timeout', timer: event.timer });
      }
    }
  }
}
