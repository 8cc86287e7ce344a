/**
 * One simulated world: n replicas of @vsr/core, a few key-value clients, a
 * network, disks and a clock, all driven by one seeded PRNG and one event
 * queue. The same seed on the same code replays the same run, event for
 * event (`trace_digest` proves it).
 *
 * The world carries out the reducer's effects under the effect contract
 * (docs/architecture.md): storage writes become durable only at a simulated
 * fsync (group commit); a send or reply waits until every write before it is
 * durable; a crash loses the writes that were not synced (or keeps a prefix
 * of them, as a disk may); timers are named and drift per replica.
 * Checkpoints take the contract's one relaxation, as the Node store does:
 * they are written in the background, sends do not wait for them, and a log
 * release (with every write after it) waits until a checkpoint covering it
 * is durable.
 *
 * Faults run while the workload is under way, never with more than f
 * replicas down at once; then everything heals and the run checks liveness
 * (every outstanding request completes within a bound), convergence,
 * exactly-once execution and linearizability.
 */
import {
  InvariantError,
  EffectBarrier,
  faultsTolerated,
  initialState,
  step,
  type ClientRequest,
  type Effect,
  type Event,
  type Limits,
  type Message,
  type ReplicaState,
  type Reply,
  type TimerName,
  type Timeouts,
} from '@vsr/core';
import type { KvOperation, KvResult } from '@vsr/kv';
import { BlockedLinks, MemoryDisk, SafetyMonitor, SafetyViolation, type StorageEffect } from '@vsr/testing';
import { EventQueue } from './queue.js';
import { Random } from './random.js';
import { faultRates, type FaultClass, type FaultName, type FaultRates } from './faults.js';
import { countedKvMachine, type CountedState } from './machine.js';
import { checkLinearizability, type HistoryOperation } from './linearizability.js';
import { Workload } from './workload.js';

/** Bugs a test can plant in the interpreter, to show the checkers catch them. */
export interface InterpreterBugs {
  /** Let sends and replies leave before the writes they follow are durable. */
  readonly sendBeforeDurable?: boolean;
  /**
   * At boot, take the last log record for a torn write and drop it, instead of
   * refusing the store: truncating an op the replica may have acknowledged.
   */
  readonly truncateTailAtBoot?: boolean;
  /**
   * Never write the durable header; at boot, a store without a header is taken
   * for a new replica and formatted: the replica rejoins as if fresh.
   */
  readonly skipHeaderWrites?: boolean;
  /**
   * Let a log release reach the disk before the checkpoint covering it (the
   * one thing the background-checkpoint relaxation forbids): a crash in
   * between leaves a store whose log starts after its checkpoint.
   */
  readonly releaseBeforeCheckpoint?: boolean;
}

export interface SimulationOptions {
  readonly seed: number;
  readonly replicaCount: number;
  readonly clientCount: number;
  readonly requests: number;
  readonly faults: readonly FaultName[];
  /** Keep every event for --trace and --html (slower). */
  readonly trace?: boolean;
  /** After the faults heal, every request must complete within this (simulated) time of being sent (or of the healing). */
  readonly livenessBoundMs?: number;
  /** A client retries a request at another replica after this long without an answer. */
  readonly requestTimeoutMs?: number;
  readonly timeouts?: Partial<Timeouts>;
  readonly limits?: Partial<Limits>;
  readonly bugs?: InterpreterBugs;
  /** Check every replica's state invariants after each step (default true; see SafetyMonitor). */
  readonly stateInvariants?: boolean;
  /** Replace some of the drawn fault rates (for targeted campaigns and tests). */
  readonly rates?: Partial<FaultRates>;
  /**
   * Crashes, restarts and partitions at given times, instead of drawing them
   * from the seed (network faults still follow `faults` and `rates`). This is
   * what fast-check generates and shrinks; see `faultScheduleArbitrary`.
   */
  readonly schedule?: readonly ScheduledFault[];
}

/** One fault at a simulated time. A crash that would take down more than f replicas is skipped. */
export type ScheduledFault =
  | { readonly atMs: number; readonly kind: 'crash'; readonly replica: number }
  | { readonly atMs: number; readonly kind: 'restart'; readonly replica: number }
  | { readonly atMs: number; readonly kind: 'wipe'; readonly replica: number }
  | {
      readonly atMs: number;
      readonly kind: 'partition';
      readonly blocked: ReadonlyArray<readonly [number, number]>;
      readonly durationMs: number;
    };

export interface SimulationSummary {
  readonly seed: number;
  readonly replicas: number;
  readonly faults: string;
  readonly fault_classes: FaultClass[];
  readonly requests_ok: number;
  readonly requests_indeterminate: number;
  readonly committed_ops: number;
  readonly view_changes: number;
  readonly crashes: number;
  readonly restarts: number;
  /** Replicas that lost their disk. */
  readonly wipes: number;
  /** Recoveries completed (VR Revisited §4.3). */
  readonly recoveries: number;
  /** Stored records corrupted or torn. */
  readonly storage_faults: number;
  /** Boots that found a damaged store and recovered it from peers. */
  readonly repairs: number;
  /** NewState messages a backup installed to fill a gap. */
  readonly state_transfers: number;
  /** Checkpoints taken, and installed from a peer (snapshot transfer). */
  readonly checkpoints: number;
  readonly checkpoints_installed: number;
  /** The most log entries any replica held in memory at once. */
  readonly log_entries_max: number;
  readonly partitions: number;
  readonly messages_sent: number;
  readonly messages_dropped: number;
  readonly rejected_inputs: number;
  readonly steps: number;
  /** Events the world processed (deliveries, timers, fsyncs, client events, faults). */
  readonly events: number;
  readonly linearizable: boolean;
  readonly converged: boolean;
  readonly violations: string[];
  readonly trace_digest: string;
  readonly sim_ms: number;
  readonly wall_ms: number;
}

export type TraceEvent =
  | { atMs: number; kind: 'send'; id: number; from: number; to: number; type: string; viewNumber: number; opNumber?: number }
  | { atMs: number; kind: 'deliver'; id: number; to: number }
  | { atMs: number; kind: 'drop'; id: number; reason: string }
  | { atMs: number; kind: 'timer'; replicaId: number; timer: TimerName }
  | { atMs: number; kind: 'state'; replicaId: number; viewNumber: number; status: string; opNumber: number; commitNumber: number }
  | { atMs: number; kind: 'crash'; replicaId: number }
  | { atMs: number; kind: 'restart'; replicaId: number }
  | { atMs: number; kind: 'wipe'; replicaId: number }
  | { atMs: number; kind: 'partition'; blocked: Array<[number, number]> }
  | { atMs: number; kind: 'heal' }
  | { atMs: number; kind: 'faults-end' }
  | { atMs: number; kind: 'call'; client: string; id: number; operation: KvOperation }
  | { atMs: number; kind: 'return'; client: string; id: number; result: KvResult }
  | { atMs: number; kind: 'violation'; message: string };

export interface SimulationResult {
  readonly summary: SimulationSummary;
  readonly history: HistoryOperation[];
  readonly trace: TraceEvent[];
}

type WorldEvent =
  | { kind: 'deliver'; id: number; from: number; to: number; message: Message }
  | { kind: 'request'; to: number; client: number; request: ClientRequest }
  | { kind: 'reply'; client: number; reply: Reply }
  | { kind: 'timer'; replica: number; timer: TimerName; generation: number }
  | { kind: 'fsync'; replica: number; incarnation: number }
  | { kind: 'checkpoint-written'; replica: number; incarnation: number }
  | { kind: 'client-timeout'; client: number; generation: number }
  | { kind: 'client-next'; client: number }
  | { kind: 'crash-tick' }
  | { kind: 'wipe-tick' }
  | { kind: 'corrupt-tick' }
  | { kind: 'partition-tick' }
  | { kind: 'restart'; replica: number }
  | { kind: 'heal-partition'; partition: number }
  | { kind: 'convergence-check' }
  | { kind: 'liveness-check' }
  | { kind: 'scheduled'; fault: ScheduledFault };

interface ReplicaProcess {
  state: ReplicaState;
  up: boolean;
  incarnation: number;
  timers: Map<TimerName, number>;
  /** Timers run at (1 + drift) × their nominal duration. */
  drift: number;
  /** What is durable, what waits in the cache for an fsync, and the checkpoints written in the background. */
  readonly disk: MemoryDisk;
  fsyncScheduled: boolean;
  /** Sends and replies waiting for the writes before them to become durable (numbered per incarnation). */
  readonly barrier: EffectBarrier<() => void>;
  checkpointWriteScheduled: boolean;
}

interface PendingRequest {
  /** When the client first sent it. */
  readonly sinceMs: number;
  readonly requestNumber: number;
  readonly operation: KvOperation | null;
  /** Index into the history, or null for a registration. */
  readonly historyIndex: number | null;
}

interface SimClient {
  readonly index: number;
  id: string;
  sessions: number;
  registered: boolean;
  nextRequestNumber: number;
  target: number;
  pending: PendingRequest | null;
  timerGeneration: number;
  done: boolean;
}

const DEFAULT_LIVENESS_BOUND_MS = 30_000;
const LIVENESS_CHECK_EVERY_MS = 1_000;
const DEFAULT_CHECKPOINT_INTERVAL_OPS = 64;
const CONVERGENCE_BOUND_MS = 10_000;
/** Faults stop once this share of the requests has been issued. */
const FAULTS_UNTIL_ISSUED = 0.9;

export function simulate(options: SimulationOptions): SimulationResult {
  return new World(options).run();
}

class World {
  private readonly random: Random;
  private readonly networkRandom: Random;
  private readonly faultRandom: Random;
  private readonly clientRandom: Random;
  private readonly queue = new EventQueue<WorldEvent>();
  private readonly processes: ReplicaProcess[] = [];
  private readonly clients: SimClient[] = [];
  private readonly monitor: SafetyMonitor;
  private readonly workload: Workload;
  private readonly rates: FaultRates;
  private readonly classes: FaultClass[];
  private readonly f: number;
  private readonly history: HistoryOperation[] = [];
  private readonly trace: TraceEvent[] = [];
  private readonly tracing: boolean;
  private readonly violations: string[] = [];
  private readonly blocked = new BlockedLinks();
  private readonly partitions = new Map<number, Array<[number, number]>>();
  private readonly viewsCompleted = new Set<number>();
  private nowMs = 0;
  private faultsActive = true;
  private faultsEndedMs = Number.POSITIVE_INFINITY;
  private convergenceDeadlineMs = Number.POSITIVE_INFINITY;
  private converged = false;
  private finished = false;
  private issued = 0;
  private requestsOk = 0;
  private crashes = 0;
  private restarts = 0;
  private wipes = 0;
  private recoveries = 0;
  private storageFaults = 0;
  private repairs = 0;
  private stateTransfers = 0;
  private checkpoints = 0;
  private checkpointsInstalled = 0;
  private logEntriesMax = 0;
  private partitionCount = 0;
  private messagesSent = 0;
  private messagesDropped = 0;
  private rejectedInputs = 0;
  private steps = 0;
  private events = 0;
  private nextMessageId = 1;
  private nextTimerGeneration = 1;
  private digestA = 0x811c9dc5;
  private digestB = 0x01000193;

  constructor(private readonly options: SimulationOptions) {
    this.random = new Random(options.seed);
    this.networkRandom = this.random.fork();
    this.faultRandom = this.random.fork();
    this.clientRandom = this.random.fork();
    const drawn = faultRates(options.faults, this.random.fork(), options.rates);
    this.rates = drawn.rates;
    this.classes = drawn.classes;
    this.f = faultsTolerated(options.replicaCount);
    this.monitor = new SafetyMonitor(options.replicaCount, { stateInvariants: options.stateInvariants ?? true });
    this.workload = new Workload(this.clientRandom.fork());
    this.tracing = options.trace ?? false;
    if (options.replicaCount < 1) throw new Error('--replicas: at least one replica');
    if (options.clientCount < 1) throw new Error('--clients: at least one client');
    if (options.requests < 0) throw new Error('--requests: cannot be negative');
  }

  run(): SimulationResult {
    const startedMs = Date.now();
    this.startReplicas();
    this.startClients();
    this.scheduleFaults();
    if (this.options.requests === 0) this.endFaults();
    this.runEvents();
    const linearizable = this.checkHistory();
    return { summary: this.summarize(linearizable, Date.now() - startedMs), history: this.history, trace: this.trace };
  }

  /** Every replica formatted with the new cluster, booted with empty storage; each draws its clock drift. */
  private startReplicas(): void {
    for (let r = 0; r < this.options.replicaCount; r++) {
      const drift = this.rates.clockDrift > 0 ? (this.faultRandom.float() * 2 - 1) * this.rates.clockDrift : 0;
      this.processes.push({
        state: this.newReplicaState(r),
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
    for (let r = 0; r < this.options.replicaCount; r++) this.runStep(r, { kind: 'boot', storage: null });
  }

  private startClients(): void {
    for (let c = 0; c < this.options.clientCount; c++) {
      this.clients.push({
        index: c,
        id: `c${c}`,
        sessions: 1,
        registered: false,
        nextRequestNumber: 0,
        target: 0,
        pending: null,
        timerGeneration: 0,
        done: false,
      });
      this.queue.push(this.clientRandom.int(0, 20), { kind: 'client-next', client: c });
    }
  }

  /** The faults of the schedule given, or the first tick of each fault class the rates enable. */
  private scheduleFaults(): void {
    if (this.options.schedule !== undefined) {
      for (const fault of this.options.schedule) this.queue.push(fault.atMs, { kind: 'scheduled', fault });
      return;
    }
    if (this.rates.crashEveryMs > 0) this.queue.push(this.nextFaultDelay(this.rates.crashEveryMs), { kind: 'crash-tick' });
    if (this.rates.wipeEveryMs > 0) this.queue.push(this.nextFaultDelay(this.rates.wipeEveryMs), { kind: 'wipe-tick' });
    if (this.rates.corruptEveryMs > 0) {
      this.queue.push(this.nextFaultDelay(this.rates.corruptEveryMs), { kind: 'corrupt-tick' });
    }
    if (this.rates.partitionEveryMs > 0) {
      this.queue.push(this.nextFaultDelay(this.rates.partitionEveryMs), { kind: 'partition-tick' });
    }
  }

  /** Runs the world until it finishes, runs out of events, or a safety check fails. */
  private runEvents(): void {
    while (!this.finished) {
      const next = this.queue.pop();
      if (next === undefined) {
        this.violation('the world ran out of events (no timers armed)');
        return;
      }
      this.nowMs = next.atMs;
      this.events++;
      try {
        this.handle(next.event);
      } catch (error) {
        // A core assertion that fires is a bug found, reported with the seed like any violation.
        if (error instanceof InvariantError) this.violation(`a core assertion failed: ${error.message}`);
        else if (error instanceof SafetyViolation) this.violation(error.message);
        else throw error;
        return;
      }
    }
  }

  /** The checks made on the whole run: linearizability of the history, and no request executed twice. */
  private checkHistory(): boolean {
    const linearizability = checkLinearizability(this.history);
    if (!linearizability.linearizable) {
      const example = linearizability.counterexample;
      this.violation(
        `linearizability: ${example ? `key ${example.key}: ${example.explanation}` : 'search exhausted'}`,
      );
    }
    for (const [r, process] of this.processes.entries()) {
      const duplicates = (process.state.app.value as CountedState).duplicates;
      if (duplicates > 0) this.violation(`replica ${r} executed ${duplicates} request(s) twice`);
    }
    return linearizability.linearizable;
  }

  private summarize(linearizable: boolean, wallMs: number): SimulationSummary {
    return {
      seed: this.options.seed,
      replicas: this.options.replicaCount,
      faults: this.options.faults.join(','),
      fault_classes: this.classes,
      requests_ok: this.requestsOk,
      requests_indeterminate: this.history.filter((operation) => operation.outcome.type === 'indeterminate').length,
      committed_ops: Math.max(...this.processes.map((process) => process.state.commitNumber)),
      view_changes: this.viewsCompleted.size,
      crashes: this.crashes,
      restarts: this.restarts,
      wipes: this.wipes,
      recoveries: this.recoveries,
      storage_faults: this.storageFaults,
      repairs: this.repairs,
      state_transfers: this.stateTransfers,
      checkpoints: this.checkpoints,
      checkpoints_installed: this.checkpointsInstalled,
      log_entries_max: this.logEntriesMax,
      partitions: this.partitionCount,
      messages_sent: this.messagesSent,
      messages_dropped: this.messagesDropped,
      rejected_inputs: this.rejectedInputs,
      steps: this.steps,
      events: this.events,
      linearizable,
      converged: this.converged,
      violations: this.violations,
      trace_digest: this.digest(),
      sim_ms: this.nowMs,
      wall_ms: wallMs,
    };
  }

  // -------------------------------------------------------------------------
  // Events

  private handle(event: WorldEvent): void {
    switch (event.kind) {
      case 'deliver': {
        const process = this.processes[event.to]!;
        if (!process.up || this.isBlocked(event.from, event.to)) {
          this.drop(event.id, process.up ? 'partition' : 'down');
          return;
        }
        this.record(`d${event.id}`);
        if (this.tracing) this.trace.push({ atMs: this.nowMs, kind: 'deliver', id: event.id, to: event.to });
        this.runStep(event.to, { kind: 'message', message: event.message });
        return;
      }
      case 'request': {
        if (!this.processes[event.to]!.up) return;
        this.record(`q${event.client}>${event.to}`);
        this.runStep(event.to, { kind: 'client-request', request: event.request, receivedAtMs: this.nowMs });
        return;
      }
      case 'reply':
        this.record(`p${event.client}`);
        return this.onReply(this.clients[event.client]!, event.reply);
      case 'timer': {
        const process = this.processes[event.replica]!;
        if (!process.up || process.timers.get(event.timer) !== event.generation) return;
        process.timers.delete(event.timer);
        this.record(`t${event.replica}${event.timer}`);
        if (this.tracing) this.trace.push({ atMs: this.nowMs, kind: 'timer', replicaId: event.replica, timer: event.timer });
        this.runStep(event.replica, { kind: 'timeout', timer: event.timer });
        return;
      }
      case 'fsync':
        return this.onFsync(event.replica, event.incarnation);
      case 'checkpoint-written':
        return this.onCheckpointWritten(event.replica, event.incarnation);
      case 'client-timeout': {
        const client = this.clients[event.client]!;
        if (client.pending === null || client.timerGeneration !== event.generation) return;
        client.target = (client.target + 1) % this.options.replicaCount;
        this.sendRequest(client);
        return;
      }
      case 'client-next':
        return this.clientNext(this.clients[event.client]!);
      case 'crash-tick':
        return this.onCrashTick();
      case 'wipe-tick':
        return this.onWipeTick();
      case 'corrupt-tick':
        return this.onCorruptTick();
      case 'partition-tick':
        return this.onPartitionTick();
      case 'restart':
        if (!this.processes[event.replica]!.up) this.restart(event.replica);
        return;
      case 'heal-partition':
        this.healPartition(event.partition);
        return;
      case 'convergence-check':
        return this.onConvergenceCheck();
      case 'liveness-check':
        return this.onLivenessCheck();
      case 'scheduled':
        return this.onScheduledFault(event.fault);
    }
  }

  private runStep(replica: number, event: Event): void {
    const process = this.processes[replica]!;
    const before = process.state;
    const [state, effects] = step(before, event);
    process.state = state;
    this.steps++;
    if (state.log.size > this.logEntriesMax) this.logEntriesMax = state.log.size;
    this.monitor.afterStep(replica, state);
    if (
      this.tracing &&
      (state.viewNumber !== before.viewNumber || state.status !== before.status || state.commitNumber !== before.commitNumber)
    ) {
      this.trace.push({
        atMs: this.nowMs,
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

  /** The effect contract. */
  private carryOut(replica: number, effects: readonly Effect[]): void {
    const process = this.processes[replica]!;
    for (const effect of effects) {
      switch (effect.kind) {
        case 'send': {
          const { to, message } = effect;
          this.outgoing(process, () => this.sendMessage(replica, to, message));
          break;
        }
        case 'reply': {
          const reply = effect.reply;
          if (reply.type === 'reply') this.monitor.answered(replica, process.state, reply.opNumber, reply.viewNumber);
          const client = this.clientById(reply.clientId);
          if (client !== undefined) this.outgoing(process, () => this.sendReply(client.index, reply));
          break;
        }
        case 'log-append':
        case 'log-truncate':
        case 'log-release':
          this.write(replica, effect);
          break;
        case 'persist-checkpoint': {
          // In the background: sends do not wait for it; a release that relies on it does.
          process.disk.writeCheckpointInBackground(effect.checkpoint);
          if (!process.checkpointWriteScheduled) {
            process.checkpointWriteScheduled = true;
            this.queue.push(this.nowMs + this.faultRandom.int(this.rates.fsyncMinMs, 4 * this.rates.fsyncMaxMs), {
              kind: 'checkpoint-written',
              replica,
              incarnation: process.incarnation,
            });
          }
          break;
        }
        case 'persist-header':
          if (this.options.bugs?.skipHeaderWrites === true) break;
          this.write(replica, effect);
          break;
        case 'set-timer': {
          const generation = this.nextTimerGeneration++;
          process.timers.set(effect.timer, generation);
          const afterMs = Math.max(1, Math.round(effect.afterMs * (1 + process.drift)));
          this.queue.push(this.nowMs + afterMs, { kind: 'timer', replica, timer: effect.timer, generation });
          break;
        }
        case 'cancel-timer':
          process.timers.delete(effect.timer);
          break;
        case 'telemetry':
          if (effect.event.name === 'vsr.view_change.complete' && effect.event.data.chosenFrom !== undefined) {
            this.viewsCompleted.add(effect.event.viewNumber);
          }
          if (effect.event.name === 'vsr.recovery.complete') this.recoveries++;
          if (effect.event.name === 'vsr.state_transfer.received') this.stateTransfers++;
          if (effect.event.name === 'vsr.checkpoint.taken') this.checkpoints++;
          if (effect.event.name === 'vsr.checkpoint.installed') this.checkpointsInstalled++;
          break;
        case 'reject':
          this.rejectedInputs++;
          break;
      }
    }
  }

  /** A storage write into the disk's cache; it also joins the effect stream the barrier orders sends by. */
  private write(replica: number, effect: StorageEffect): void {
    const process = this.processes[replica]!;
    process.disk.write(effect);
    process.barrier.write();
    this.scheduleFsync(replica);
  }

  private scheduleFsync(replica: number): void {
    const process = this.processes[replica]!;
    if (process.fsyncScheduled || process.disk.cached === 0) return;
    process.fsyncScheduled = true;
    this.queue.push(this.nowMs + this.faultRandom.int(this.rates.fsyncMinMs, this.rates.fsyncMaxMs), {
      kind: 'fsync',
      replica,
      incarnation: process.incarnation,
    });
  }

  /** A send or reply leaves only once every write before it is durable (the effect barrier). */
  private outgoing(process: ReplicaProcess, send: () => void): void {
    if (this.options.bugs?.sendBeforeDurable === true || process.barrier.admit(send)) send();
  }

  /** How many of the cached writes may reach the disk now: all, up to a release its checkpoint does not yet cover. */
  private writable(process: ReplicaProcess): number {
    if (this.options.bugs?.releaseBeforeCheckpoint === true) return process.disk.cached;
    return process.disk.writable();
  }

  /** Group commit: one fsync makes the cached writes durable (up to a release still waiting for its checkpoint), then releases the sends that waited. */
  private onFsync(replica: number, incarnation: number): void {
    const process = this.processes[replica]!;
    if (process.incarnation !== incarnation) return;
    process.fsyncScheduled = false;
    const count = this.writable(process);
    process.disk.sync(count);
    for (const send of process.barrier.durableThrough(process.barrier.writesDurable + count)) send();
    // A release waiting for its checkpoint is retried when the checkpoint is written.
    if (process.disk.cached > 0 && this.writable(process) > 0) this.scheduleFsync(replica);
  }

  private onCheckpointWritten(replica: number, incarnation: number): void {
    const process = this.processes[replica]!;
    if (process.incarnation !== incarnation) return;
    process.checkpointWriteScheduled = false;
    if (!process.disk.landCheckpoint()) return;
    if (process.disk.checkpointsWriting > 0) {
      process.checkpointWriteScheduled = true;
      this.queue.push(this.nowMs + this.faultRandom.int(this.rates.fsyncMinMs, 4 * this.rates.fsyncMaxMs), {
        kind: 'checkpoint-written',
        replica,
        incarnation,
      });
    }
    this.scheduleFsync(replica);
  }

  // -------------------------------------------------------------------------
  // The network

  private sendMessage(from: number, to: number, message: Message): void {
    const id = this.nextMessageId++;
    this.messagesSent++;
    if (this.tracing) {
      const op = 'opNumber' in message ? message.opNumber : undefined;
      this.trace.push({ atMs: this.nowMs, kind: 'send', id, from, to, type: message.type, viewNumber: message.viewNumber, ...(op === undefined ? {} : { op }) });
    }
    if (this.isBlocked(from, to)) return this.drop(id, 'partition');
    if (this.faultsActive && this.networkRandom.chance(this.rates.lossRate)) return this.drop(id, 'loss');
    this.queue.push(this.nowMs + this.delay(), { kind: 'deliver', id, from, to, message });
    if (this.faultsActive && this.networkRandom.chance(this.rates.duplicateRate)) {
      this.queue.push(this.nowMs + this.delay(), { kind: 'deliver', id, from, to, message });
    }
  }

  private sendReply(client: number, reply: Reply): void {
    if (this.faultsActive && this.networkRandom.chance(this.rates.lossRate)) return;
    this.queue.push(this.nowMs + this.delay(), { kind: 'reply', client, reply });
  }

  private delay(): number {
    return this.networkRandom.int(this.rates.delayMinMs, this.faultsActive ? this.rates.delayMaxMs : Math.min(3, this.rates.delayMaxMs));
  }

  private drop(id: number, reason: string): void {
    this.messagesDropped++;
    if (this.tracing) this.trace.push({ atMs: this.nowMs, kind: 'drop', id, reason });
  }

  private isBlocked(from: number, to: number): boolean {
    return this.blocked.isBlocked(from, to);
  }

  // -------------------------------------------------------------------------
  // Faults

  private nextFaultDelay(meanMs: number): number {
    return Math.max(1, Math.round(meanMs * (0.5 + this.faultRandom.float())));
  }

  /** Replicas that cannot vote: down, or up but still recovering. Never more than f. */
  private unavailable(): number {
    return this.processes.filter((process) => !process.up || process.state.status === 'recovering').length;
  }

  private onWipeTick(): void {
    if (!this.faultsActive) return;
    const candidates = this.processes.map((process, r) => (process.up && process.state.status !== 'recovering' ? r : -1)).filter((r) => r >= 0);
    if (this.unavailable() < this.f && candidates.length > 0) {
      const victim = this.faultRandom.pick(candidates);
      this.wipe(victim);
      this.queue.push(this.nowMs + this.faultRandom.int(this.rates.downtimeMinMs, this.rates.downtimeMaxMs), { kind: 'restart', replica: victim });
    }
    this.queue.push(this.nowMs + this.nextFaultDelay(this.rates.wipeEveryMs), { kind: 'wipe-tick' });
  }

  /** Corrupts a stored record on one replica, never leaving fewer than f + 1 intact stores. */
  private onCorruptTick(): void {
    if (!this.faultsActive) return;
    const impaired = this.processes.filter(
      (process) => process.disk.damaged > 0 || process.disk.lost || !process.up || process.state.status === 'recovering',
    ).length;
    const candidates = this.processes
      .map((process, r) => (process.disk.damaged === 0 && !process.disk.lost && process.disk.header !== null ? r : -1))
      .filter((r) => r >= 0);
    if (impaired < this.f && candidates.length > 0) {
      const victim = this.faultRandom.pick(candidates);
      this.processes[victim]!.disk.damaged++;
      this.storageFaults++;
      this.record(`corrupt${victim}`);
    }
    this.queue.push(this.nowMs + this.nextFaultDelay(this.rates.corruptEveryMs), { kind: 'corrupt-tick' });
  }

  /** The process dies and its disk is lost. */
  private wipe(replica: number): void {
    if (this.processes[replica]!.up) this.crash(replica);
    this.processes[replica]!.disk.wipe();
    this.wipes++;
    this.record(`wipe${replica}`);
    if (this.tracing) this.trace.push({ atMs: this.nowMs, kind: 'wipe', replicaId: replica });
  }

  private onCrashTick(): void {
    if (!this.faultsActive) return;
    if (this.unavailable() < this.f) {
      const candidates = this.processes.map((process, r) => (process.up ? r : -1)).filter((r) => r >= 0);
      const victim = this.faultRandom.pick(candidates);
      this.crash(victim);
      const downtime = this.faultRandom.int(this.rates.downtimeMinMs, this.rates.downtimeMaxMs);
      this.queue.push(this.nowMs + downtime, { kind: 'restart', replica: victim });
    }
    this.queue.push(this.nowMs + this.nextFaultDelay(this.rates.crashEveryMs), { kind: 'crash-tick' });
  }

  private crash(replica: number): void {
    const process = this.processes[replica]!;
    process.up = false;
    process.incarnation++;
    process.timers.clear();
    process.barrier.reset();
    // Checkpoints being written in the background may have landed, oldest first.
    process.disk.crashCheckpoints(this.faultRandom.int(0, process.disk.checkpointsWriting));
    process.checkpointWriteScheduled = false;
    // Unsynced writes may have reached the disk in part: keep a prefix (never past a release its checkpoint does not cover).
    const interrupted = process.disk.crashCache(this.faultRandom.int(0, this.writable(process)));
    if (interrupted && this.faultRandom.chance(this.rates.tornWriteRate)) {
      // The write the crash interrupted is half on the disk: its checksum will not match.
      process.disk.damaged++;
      this.storageFaults++;
    }
    process.fsyncScheduled = false;
    this.crashes++;
    this.record(`crash${replica}`);
    if (this.tracing) this.trace.push({ atMs: this.nowMs, kind: 'crash', replicaId: replica });
  }

  private restart(replica: number): void {
    const process = this.processes[replica]!;
    process.up = true;
    process.state = this.newReplicaState(replica);
    this.monitor.restarted(replica);
    this.restarts++;
    this.record(`restart${replica}`);
    if (this.tracing) this.trace.push({ atMs: this.nowMs, kind: 'restart', replicaId: replica });
    if (process.disk.damaged > 0) {
      // A checksum failed at boot: the store is refused and the replica recovers from its peers.
      this.repairs++;
      process.disk.wipe();
    }
    if (this.options.bugs?.truncateTailAtBoot === true && process.disk.log.length > 0) process.disk.log.pop();
    if (this.options.bugs?.skipHeaderWrites === true && process.disk.header === null && !process.disk.lost) process.disk.format();
    this.runStep(replica, { kind: 'boot', storage: process.disk.bootStorage(() => this.faultRandom.int(0, 0x7fff_ffff)) });
  }

  private onScheduledFault(fault: ScheduledFault): void {
    if (!this.faultsActive) return;
    const n = this.options.replicaCount;
    switch (fault.kind) {
      case 'crash':
        if (fault.replica < n && this.processes[fault.replica]!.up && this.unavailable() < this.f) this.crash(fault.replica);
        return;
      case 'wipe': {
        const target = this.processes[fault.replica];
        if (target === undefined) return;
        const counted = !target.up || target.state.status === 'recovering';
        if (counted || this.unavailable() < this.f) this.wipe(fault.replica);
        return;
      }
      case 'restart':
        if (fault.replica < n && !this.processes[fault.replica]!.up) this.restart(fault.replica);
        return;
      case 'partition': {
        const links = fault.blocked.filter(([a, b]) => a !== b && a < n && b < n).map(([a, b]) => [a, b] as [number, number]);
        if (links.length === 0) return;
        this.startPartition(links, fault.durationMs);
        return;
      }
    }
  }

  private startPartition(links: Array<[number, number]>, durationMs: number): void {
    const id = ++this.partitionCount;
    this.partitions.set(id, links);
    this.rebuildBlocked();
    this.record(`partition${id}`);
    if (this.tracing) this.trace.push({ atMs: this.nowMs, kind: 'partition', blocked: links });
    this.queue.push(this.nowMs + durationMs, { kind: 'heal-partition', partition: id });
  }

  private onPartitionTick(): void {
    if (!this.faultsActive) return;
    if (this.partitions.size === 0) {
      const n = this.options.replicaCount;
      const links: Array<[number, number]> = [];
      const shape = this.faultRandom.int(0, 2);
      if (shape === 0) {
        // One replica cut off, both ways.
        const isolated = this.faultRandom.int(0, n - 1);
        for (let other = 0; other < n; other++) {
          if (other !== isolated) links.push([isolated, other], [other, isolated]);
        }
      } else if (shape === 1) {
        // Two groups.
        const side = Array.from({ length: n }, () => this.faultRandom.chance(0.5));
        for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (side[a] !== side[b]) links.push([a, b]);
      } else {
        // Asymmetric: some links fail in one direction only.
        for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (a !== b && this.faultRandom.chance(0.3)) links.push([a, b]);
      }
      if (links.length > 0) {
        this.startPartition(links, this.faultRandom.int(this.rates.partitionMinMs, this.rates.partitionMaxMs));
      }
    }
    this.queue.push(this.nowMs + this.nextFaultDelay(this.rates.partitionEveryMs), { kind: 'partition-tick' });
  }

  private healPartition(id: number): void {
    if (!this.partitions.delete(id)) return;
    this.rebuildBlocked();
    this.record(`heal${id}`);
    if (this.tracing) this.trace.push({ atMs: this.nowMs, kind: 'heal' });
  }

  private rebuildBlocked(): void {
    this.blocked.clear();
    for (const links of this.partitions.values()) this.blocked.blockAll(links);
  }

  /** The faults are over: heal partitions, restart every replica; the liveness clock starts. */
  private endFaults(): void {
    if (!this.faultsActive) return;
    this.faultsActive = false;
    for (const id of [...this.partitions.keys()]) this.healPartition(id);
    for (let r = 0; r < this.processes.length; r++) if (!this.processes[r]!.up) this.restart(r);
    this.faultsEndedMs = this.nowMs;
    this.queue.push(this.nowMs + this.livenessCheckEveryMs(), { kind: 'liveness-check' });
    if (this.tracing) this.trace.push({ atMs: this.nowMs, kind: 'faults-end' });
  }

  /**
   * Liveness: once the faults have healed, every request completes within the
   * bound, counted from when it was sent or from the healing, whichever is later.
   */
  private onLivenessCheck(): void {
    if (this.finished) return;
    const boundMs = this.options.livenessBoundMs ?? DEFAULT_LIVENESS_BOUND_MS;
    const stuck = this.clients.filter(
      (client) => client.pending !== null && this.nowMs - Math.max(client.pending.sinceMs, this.faultsEndedMs) > boundMs,
    );
    if (stuck.length > 0) {
      this.violation(
        `liveness: ${stuck.length} request(s) still unanswered ${boundMs} ms after the faults healed ` +
          `(${stuck.map((client) => `${client.id}#${client.pending!.requestNumber}→r${client.target}`).join(', ')}; ${this.describeReplicas()})`,
      );
      this.finished = true;
      return;
    }
    this.queue.push(this.nowMs + this.livenessCheckEveryMs(), { kind: 'liveness-check' });
  }

  private livenessCheckEveryMs(): number {
    const boundMs = this.options.livenessBoundMs ?? DEFAULT_LIVENESS_BOUND_MS;
    return Math.max(1, Math.min(LIVENESS_CHECK_EVERY_MS, Math.floor(boundMs / 2)));
  }

  // -------------------------------------------------------------------------
  // Clients

  private clientNext(client: SimClient): void {
    if (client.pending !== null) return;
    if (!client.registered) {
      client.pending = { sinceMs: this.nowMs, requestNumber: client.nextRequestNumber++, operation: null, historyIndex: null };
      this.sendRequest(client);
      return;
    }
    if (this.issued >= this.options.requests) {
      client.done = true;
      this.maybeFinishWorkload();
      return;
    }
    const operation = this.workload.next(client.index);
    const historyIndex = this.history.length;
    this.history.push({
      id: historyIndex,
      clientId: client.id,
      operation,
      callMs: this.nowMs,
      returnMs: null,
      outcome: { type: 'indeterminate' },
    });
    if (this.tracing) this.trace.push({ atMs: this.nowMs, kind: 'call', client: client.id, id: historyIndex, operation });
    client.pending = { sinceMs: this.nowMs, requestNumber: client.nextRequestNumber++, operation, historyIndex };
    this.issued++;
    if (this.faultsActive && this.issued >= this.options.requests * FAULTS_UNTIL_ISSUED) this.endFaults();
    this.sendRequest(client);
  }

  private sendRequest(client: SimClient): void {
    const pending = client.pending!;
    const request: ClientRequest = {
      clientId: client.id,
      requestNumber: pending.requestNumber,
      operation: pending.operation,
    };
    if (!(this.faultsActive && this.networkRandom.chance(this.rates.lossRate))) {
      this.queue.push(this.nowMs + this.delay(), { kind: 'request', to: client.target, client: client.index, request });
    }
    client.timerGeneration++;
    this.queue.push(this.nowMs + (this.options.requestTimeoutMs ?? 400), {
      kind: 'client-timeout',
      client: client.index,
      generation: client.timerGeneration,
    });
  }

  private onReply(client: SimClient, reply: Reply): void {
    const pending = client.pending;
    if (pending === null || reply.clientId !== client.id || reply.requestNumber !== pending.requestNumber) return;
    switch (reply.type) {
      case 'reply': {
        client.pending = null;
        client.timerGeneration++;
        if (pending.historyIndex === null) {
          client.registered = true;
        } else {
          const entry = this.history[pending.historyIndex]!;
          this.history[pending.historyIndex] = { ...entry, returnMs: this.nowMs, outcome: { type: 'ok', result: reply.result as KvResult } };
          this.requestsOk++;
          if (this.tracing) {
            this.trace.push({ atMs: this.nowMs, kind: 'return', client: client.id, id: pending.historyIndex, result: reply.result as KvResult });
          }
        }
        // Think time: clients pause between requests, so a run spans enough time for faults to land.
        this.queue.push(this.nowMs + this.clientRandom.int(0, 10), { kind: 'client-next', client: client.index });
        return;
      }
      case 'redirect':
        if (reply.primary !== client.target) {
          client.target = reply.primary;
          this.sendRequest(client);
        }
        return;
      case 'error':
        if (reply.code === 'busy') return; // The timeout retries.
        if (reply.code === 'not-registered') {
          // The session was evicted: the outcome of this request is unknown
          // (it stays indeterminate); a new session under a fresh client id.
          client.pending = null;
          client.sessions++;
          client.id = `c${client.index}.${client.sessions}`;
          client.registered = false;
          client.nextRequestNumber = 0;
          this.queue.push(this.nowMs + 1, { kind: 'client-next', client: client.index });
          return;
        }
        throw new SafetyViolation(`client ${client.id} got ${reply.code} for a valid request: ${reply.message}`);
    }
  }

  private clientById(clientId: string): SimClient | undefined {
    const match = /^c(\d+)/.exec(clientId);
    const client = match ? this.clients[Number(match[1])] : undefined;
    return client?.id === clientId ? client : undefined;
  }

  private maybeFinishWorkload(): void {
    if (!this.clients.every((client) => client.done)) return;
    this.endFaults();
    this.convergenceDeadlineMs = this.nowMs + CONVERGENCE_BOUND_MS;
    this.queue.push(this.nowMs + 1, { kind: 'convergence-check' });
  }

  /** Every replica normal in one view, at one commit number, with the same application state. */
  private onConvergenceCheck(): void {
    const states = this.processes.map((process) => process.state);
    const first = states[0]!;
    const snapshot = (state: ReplicaState) => JSON.stringify((countedKvMachine.snapshot(state.app.value as CountedState) as { kv: unknown }).kv);
    const agreed =
      this.processes.every((process) => process.up) &&
      states.every(
        (state) =>
          state.status === 'normal' &&
          state.viewNumber === first.viewNumber &&
          state.commitNumber === first.commitNumber &&
          state.log.lastOpNumber === state.commitNumber,
      ) &&
      states.every((state) => snapshot(state) === snapshot(first));
    if (agreed) {
      this.converged = true;
      this.finished = true;
      return;
    }
    if (this.nowMs >= this.convergenceDeadlineMs) {
      this.violation(
        `convergence: replicas differ ${CONVERGENCE_BOUND_MS} ms after the workload ended: ${this.describeReplicas()}`,
      );
      this.finished = true;
      return;
    }
    this.queue.push(this.nowMs + 50, { kind: 'convergence-check' });
  }

  // -------------------------------------------------------------------------

  private newReplicaState(replicaId: number): ReplicaState {
    return initialState(
      {
        replicaId,
        replicaCount: this.options.replicaCount,
        timeouts: this.options.timeouts ?? {},
        // Checkpoints every 64 ops unless told otherwise, so runs exercise them.
        limits: { checkpointIntervalOps: DEFAULT_CHECKPOINT_INTERVAL_OPS, ...this.options.limits },
      },
      countedKvMachine,
    );
  }

  private describeReplicas(): string {
    return this.processes
      .map(({ state, up }, r) =>
        up
          ? `r${r} ${state.status} v${state.viewNumber} op${state.log.lastOpNumber} c${state.commitNumber} base${state.log.baseOpNumber}`
          : `r${r} down`,
      )
      .join(', ');
  }

  private violation(message: string): void {
    this.violations.push(message);
    if (this.tracing) this.trace.push({ atMs: this.nowMs, kind: 'violation', message });
  }

  /** Folds one event into the trace digest (two 32-bit FNV-1a lanes). */
  private record(text: string): void {
    let a = this.digestA ^ this.nowMs;
    let b = this.digestB ^ (this.nowMs >>> 7);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x01000197);
    }
    this.digestA = a >>> 0;
    this.digestB = b >>> 0;
  }

  private digest(): string {
    return this.digestA.toString(16).padStart(8, '0') + this.digestB.toString(16).padStart(8, '0');
  }
}
