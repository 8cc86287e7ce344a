/**
 * A small deterministic harness: n replicas of @vsr/core in one process, a
 * network that delivers, drops, duplicates and reorders only on command,
 * timers that fire only on command, and storage that is durable at once.
 *
 * After every step it checks what must always hold:
 * - agreement: no two replicas ever execute different ops at one op number;
 * - durability: every op a client saw answered is in the log of every later
 *   primary;
 * - the effect stream matches the state (storage holds exactly the state's
 *   log and header).
 * A broken check throws a SafetyViolation naming the replica and op.
 */
import {
  describe as describeReplica,
  initialState,
  primaryOf,
  step,
  type Effect,
  type Event,
  type Message,
  type ReplicaState,
  type Reply,
  type StateMachine,
  type Telemetry,
  type TimerName,
  type Timeouts,
  type Limits,
} from '@vsr/core';
import { SafetyMonitor, SafetyViolation } from './monitor.js';
import { MemoryDisk } from './disk.js';
import { BlockedLinks } from './blocked-links.js';

export interface Envelope {
  readonly id: number;
  readonly from: number;
  readonly to: number;
  readonly message: Message;
}

export interface ReceivedReply {
  readonly replica: number;
  readonly reply: Reply;
}

export interface ClusterOptions {
  readonly replicaCount: number;
  readonly machine: StateMachine;
  readonly timeouts?: Partial<Timeouts>;
  readonly limits?: Partial<Limits>;
  readonly cluster?: number;
  /** Keep a human-readable line per message, timer and crash (default true). */
  readonly trace?: boolean;
}

export class Cluster {
  readonly replicaCount: number;
  readonly machine: StateMachine;
  readonly states: ReplicaState[] = [];
  readonly up: boolean[] = [];
  /** Each replica's disk: every write is durable at once (the strict form of the effect contract). */
  readonly storage: MemoryDisk[] = [];
  /** In flight, in the order sent. */
  network: Envelope[] = [];
  readonly timers: Array<Set<TimerName>> = [];
  readonly replies: ReceivedReply[] = [];
  readonly telemetry: Telemetry[] = [];
  readonly rejects: Array<{ replica: number; reason: string; input: string }> = [];
  readonly trace: string[] = [];
  readonly monitor: SafetyMonitor;
  stepCount = 0;

  private readonly configFor: (replicaId: number) => unknown;
  private readonly blocked = new BlockedLinks();
  private nextEnvelopeId = 1;
  private readonly tracing: boolean;

  constructor(options: ClusterOptions) {
    this.replicaCount = options.replicaCount;
    this.machine = options.machine;
    this.tracing = options.trace ?? true;
    this.monitor = new SafetyMonitor(options.replicaCount);
    this.configFor = (replicaId) => ({
      cluster: options.cluster ?? 0,
      replicaId,
      replicaCount: options.replicaCount,
      timeouts: options.timeouts ?? {},
      limits: options.limits ?? {},
    });
    for (let i = 0; i < this.replicaCount; i++) {
      this.states.push(initialState(this.configFor(i), this.machine));
      this.up.push(true);
      this.storage.push(new MemoryDisk(`replica ${i}'s stored log`));
      this.timers.push(new Set());
    }
    for (let i = 0; i < this.replicaCount; i++) this.handle(i, { kind: 'boot', storage: null });
  }

  // -------------------------------------------------------------------------
  // Driving replicas

  /** Runs one event through replica i's reducer and carries out its effects. */
  handle(replica: number, event: Event): Effect[] {
    if (!this.up[replica]) throw new Error(`replica ${replica} is down`);
    const [next, effects] = step(this.states[replica]!, event);
    this.states[replica] = next;
    this.stepCount++;
    this.apply(replica, effects);
    this.check(replica);
    return effects;
  }

  /** A client request arriving at replica i. */
  request(replica: number, clientId: string, requestNumber: number, operation: unknown = null, receivedAtMs?: number): Effect[] {
    this.log(`client ${clientId} -> r${replica}: request #${requestNumber} ${JSON.stringify(operation)}`);
    const event: Event =
      receivedAtMs === undefined
        ? { kind: 'client-request', request: { clientId, requestNumber, operation } }
        : { kind: 'client-request', request: { clientId, requestNumber, operation }, receivedAtMs };
    return this.handle(replica, event);
  }

  /** A client's read (without the log) arriving at replica i. */
  read(replica: number, clientId: string, readNumber: number, query: unknown): Effect[] {
    this.log(`client ${clientId} -> r${replica}: read #${readNumber} ${JSON.stringify(query)}`);
    return this.handle(replica, { kind: 'client-request', request: { clientId, readNumber, query } });
  }

  /** Fires an armed timer. Firing one that is not armed is a mistake in the test. */
  fire(replica: number, timer: TimerName): Effect[] {
    if (!this.timers[replica]!.has(timer)) throw new Error(`timer ${timer} is not armed on replica ${replica}`);
    this.timers[replica]!.delete(timer);
    this.log(`r${replica}: timer ${timer} fires`);
    return this.handle(replica, { kind: 'timeout', timer });
  }

  isArmed(replica: number, timer: TimerName): boolean {
    return this.timers[replica]!.has(timer);
  }

  // -------------------------------------------------------------------------
  // The network

  pending(filter: (envelope: Envelope) => boolean = () => true): Envelope[] {
    return this.network.filter(filter);
  }

  /** Delivers one message (removing it from the network). */
  deliver(envelope: Envelope): Effect[] {
    const index = this.network.findIndex((candidate) => candidate.id === envelope.id);
    if (index < 0) throw new Error(`message ${envelope.id} is not in flight`);
    this.network.splice(index, 1);
    if (!this.up[envelope.to] || this.isBlocked(envelope.from, envelope.to)) {
      this.log(`drop ${describeEnvelope(envelope)} (${this.up[envelope.to] ? 'partitioned' : 'replica down'})`);
      return [];
    }
    this.log(`deliver ${describeEnvelope(envelope)}`);
    return this.handle(envelope.to, { kind: 'message', message: envelope.message });
  }

  /** Delivers messages oldest first until none match (or `stepsMax` deliveries). Returns how many. */
  deliverAll(filter: (envelope: Envelope) => boolean = () => true, stepsMax = 100_000): number {
    let delivered = 0;
    for (;;) {
      const next = this.network.find(filter);
      if (next === undefined) return delivered;
      if (delivered >= stepsMax) throw new Error(`deliverAll: still busy after ${stepsMax} deliveries`);
      this.deliver(next);
      delivered++;
    }
  }

  /** Removes matching messages from the network. Returns how many. */
  drop(filter: (envelope: Envelope) => boolean): number {
    const before = this.network.length;
    this.network = this.network.filter((envelope) => {
      if (!filter(envelope)) return true;
      this.log(`lose ${describeEnvelope(envelope)}`);
      return false;
    });
    return before - this.network.length;
  }

  /** Puts a second copy of a message in flight. */
  duplicate(envelope: Envelope): void {
    this.network.push({ ...envelope, id: this.nextEnvelopeId++ });
    this.log(`duplicate ${describeEnvelope(envelope)}`);
  }

  /** Cuts every link between `replica` and the others, both ways. */
  isolate(replica: number): void {
    this.blocked.isolate(replica, this.replicaCount);
    this.log(`partition: r${replica} isolated`);
  }

  /** Cuts one direction of one link. */
  block(from: number, to: number): void {
    this.blocked.block(from, to);
  }

  heal(): void {
    this.blocked.clear();
    this.log('partition healed');
  }

  isBlocked(from: number, to: number): boolean {
    return this.blocked.isBlocked(from, to);
  }

  // -------------------------------------------------------------------------
  // Crashes

  /** The process dies: volatile state, timers and messages addressed to it are gone; storage stays. */
  crash(replica: number): void {
    this.up[replica] = false;
    this.timers[replica]!.clear();
    this.network = this.network.filter((envelope) => envelope.to !== replica);
    this.log(`r${replica}: crash`);
  }

  /** The process dies and its disk is lost (replaced, or corrupt beyond use). */
  wipe(replica: number): void {
    if (this.up[replica]) this.crash(replica);
    this.storage[replica]!.wipe();
    this.log(`r${replica}: storage wiped`);
  }

  /** A new process boots from what storage holds (a wiped replica with a nonce, to recover). */
  /** Restarts replica i from its storage; `machine` replaces its machine (an upgrade), else it keeps the one it ran. */
  restart(replica: number, nonce = replica + 1000 * this.stepCount, machine: StateMachine = this.states[replica]!.machine.value): Effect[] {
    this.up[replica] = true;
    this.states[replica] = initialState(this.configFor(replica), machine);
    this.monitor.restarted(replica);
    const stored = this.storage[replica]!;
    this.log(`r${replica}: restart from storage (op ${stored.log.length})`);
    return this.handle(replica, { kind: 'boot', storage: stored.bootStorage(() => nonce) });
  }

  // -------------------------------------------------------------------------
  // Looking at the cluster

  /** The replica acting as primary: normal status, primary of its view, the highest such view. */
  primary(): number | undefined {
    let best: number | undefined;
    for (let i = 0; i < this.replicaCount; i++) {
      const state = this.states[i]!;
      if (!this.up[i] || state.status !== 'normal' || primaryOf(state.viewNumber, this.replicaCount) !== i) continue;
      if (best === undefined || state.viewNumber > this.states[best]!.viewNumber) best = i;
    }
    return best;
  }

  repliesTo(clientId: string): ReceivedReply[] {
    return this.replies.filter((received) => received.reply.clientId === clientId);
  }

  telemetryNamed(name: Telemetry['name'], replica?: number): Telemetry[] {
    return this.telemetry.filter((event) => event.name === name && (replica === undefined || event.replicaId === replica));
  }

  describe(): string {
    return this.states
      .map((state, i) => (this.up[i] ? describeReplica(state) : `replica ${i}/${this.replicaCount} DOWN`))
      .join('\n');
  }

  // -------------------------------------------------------------------------
  // Carrying out effects under the effect contract

  private apply(replica: number, effects: readonly Effect[]): void {
    const stored = this.storage[replica]!;
    for (const effect of effects) {
      switch (effect.kind) {
        case 'send': {
          const envelope = { id: this.nextEnvelopeId++, from: replica, to: effect.to, message: effect.message };
          if (this.isBlocked(replica, effect.to)) this.log(`drop ${describeEnvelope(envelope)} (partitioned)`);
          else this.network.push(envelope);
          break;
        }
        case 'reply':
          this.replies.push({ replica, reply: effect.reply });
          if (effect.reply.type === 'reply') {
            this.monitor.answered(replica, this.states[replica]!, effect.reply.opNumber, effect.reply.viewNumber);
          }
          this.log(`r${replica} -> client ${effect.clientId}: ${describeReply(effect.reply)}`);
          break;
        case 'log-append':
        case 'log-truncate':
        case 'log-release':
        case 'persist-checkpoint':
        case 'persist-header':
          stored.persist(effect);
          break;
        case 'set-timer':
          this.timers[replica]!.add(effect.timer);
          break;
        case 'cancel-timer':
          this.timers[replica]!.delete(effect.timer);
          break;
        case 'telemetry':
          this.telemetry.push(effect.event);
          break;
        case 'reject':
          this.rejects.push({ replica, reason: effect.reason, input: effect.input });
          this.log(`r${replica} rejects ${effect.input}: ${effect.reason}`);
          break;
      }
    }
  }

  private check(replica: number): void {
    const state = this.states[replica]!;
    this.monitor.afterStep(replica, state);
    // The effects told storage exactly what the state holds.
    const stored = this.storage[replica]!;
    if (state.status !== 'booting' && state.status !== 'recovering') {
      if (stored.base + stored.log.length !== state.log.lastOpNumber || stored.log.length !== state.log.size) {
        throw new SafetyViolation(
          `replica ${replica}: storage holds ops ${stored.base + 1}..${stored.base + stored.log.length}, the state ${state.log.baseOpNumber + 1}..${state.log.lastOpNumber}`,
        );
      }
      if (stored.header === null || stored.header.viewNumber !== state.viewNumber) {
        throw new SafetyViolation(`replica ${replica}: view ${state.viewNumber} was not persisted before use`);
      }
    }
  }

  private log(line: string): void {
    if (this.tracing) this.trace.push(line);
  }
}

export function describeEnvelope(envelope: Envelope): string {
  const m = envelope.message;
  let detail = '';
  switch (m.type) {
    case 'prepare':
      detail = ` op=${m.opNumber} commit=${m.commitNumber}`;
      break;
    case 'prepare-ok':
    case 'get-state':
      detail = ` op=${m.opNumber}`;
      break;
    case 'commit':
      detail = ` commit=${m.commitNumber}`;
      break;
    case 'do-view-change':
      detail = ` last-normal-view=${m.lastNormalView} op=${m.opNumber} commit=${m.commitNumber}`;
      break;
    case 'start-view':
      detail = ` op=${m.opNumber} commit=${m.commitNumber}`;
      break;
    case 'new-state':
      detail = ` after=${m.opNumber} entries=${m.entries.length} commit=${m.commitNumber}`;
      break;
    case 'confirm-view':
    case 'confirm-view-ok':
      detail = ` round=${m.round}`;
      break;
    case 'start-view-change':
    case 'recovery':
    case 'recovery-response':
      break;
  }
  return `r${envelope.from}->r${envelope.to} ${m.type}(v${m.viewNumber}${detail})`;
}

export function describeReply(reply: Reply): string {
  switch (reply.type) {
    case 'reply':
      return `reply #${reply.requestNumber} op=${reply.opNumber} ${JSON.stringify(reply.result)}`;
    case 'redirect':
      return `redirect #${reply.requestNumber} to r${reply.primary} (view ${reply.viewNumber})`;
    case 'error':
      return `error #${reply.requestNumber} ${reply.code}: ${reply.message}`;
    case 'read-reply':
      return `read-reply r#${reply.readNumber} commit=${reply.commitNumber} ${JSON.stringify(reply.result)}`;
    case 'read-redirect':
      return `read-redirect r#${reply.readNumber} to r${reply.primary} (view ${reply.viewNumber})`;
    case 'read-error':
      return `read-error r#${reply.readNumber} ${reply.code}: ${reply.message}`;
  }
}
