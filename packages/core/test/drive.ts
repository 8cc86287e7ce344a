/**
 * A few replicas driven by calling `step` directly, for the core's own tests: a FIFO network,
 * timers that fire only when a test says so, and storage kept from the effects (durable at
 * once). `afterStep` sees every state a step returns.
 */
import {
  applyLogEffect,
  initialState,
  step,
  type Checkpoint,
  type DurableHeader,
  type Effect,
  type Event,
  type Limits,
  type Message,
  type ReplicaState,
  type Reply,
  type StoredLog,
  type TimerName,
} from '../src/index.js';
import { counterMachine } from './counter.js';

interface Envelope {
  readonly from: number;
  readonly to: number;
  readonly message: Message;
}

interface Storage {
  header: DurableHeader | null;
  checkpoint: Checkpoint | null;
  log: StoredLog;
}

export class Drive {
  readonly states: ReplicaState[] = [];
  readonly up: boolean[] = [];
  readonly timers: Array<Set<TimerName>> = [];
  readonly replies: Reply[] = [];
  readonly rejects: string[] = [];
  network: Envelope[] = [];
  steps = 0;
  private readonly storage: Storage[] = [];

  constructor(
    readonly replicaCount: number,
    private readonly afterStep: (state: ReplicaState) => void,
    private readonly limits: Partial<Limits> = {},
  ) {
    for (let replicaId = 0; replicaId < replicaCount; replicaId++) {
      this.states.push(this.fresh(replicaId));
      this.up.push(true);
      this.timers.push(new Set());
      this.storage.push({ header: null, checkpoint: null, log: { base: 0, log: [] } });
    }
    for (let replicaId = 0; replicaId < replicaCount; replicaId++) this.handle(replicaId, { kind: 'boot', storage: null });
  }

  handle(replicaId: number, event: Event): Effect[] {
    const [next, effects] = step(this.at(replicaId), event);
    this.states[replicaId] = next;
    this.steps++;
    this.afterStep(next);
    for (const effect of effects) this.carryOut(replicaId, effect);
    return effects;
  }

  request(replicaId: number, clientId: string, requestNumber: number, operation: number | null): void {
    this.handle(replicaId, { kind: 'client-request', request: { clientId, requestNumber, operation }, receivedAtMs: 1000 + this.steps });
  }

  fire(replicaId: number, timer: TimerName): void {
    const armed = this.timers[replicaId];
    if (armed === undefined || !armed.delete(timer)) throw new Error(`timer ${timer} is not armed on replica ${replicaId}`);
    this.handle(replicaId, { kind: 'timeout', timer });
  }

  /** Delivers messages oldest first, while any match; messages to a replica that is down are lost. */
  deliverAll(filter: (envelope: Envelope) => boolean = () => true): void {
    for (let delivered = 0; ; delivered++) {
      if (delivered > 10_000) throw new Error('still delivering after 10,000 messages');
      const index = this.network.findIndex(filter);
      const envelope = this.network[index];
      if (envelope === undefined) return;
      this.network.splice(index, 1);
      if (this.up[envelope.to]) this.handle(envelope.to, { kind: 'message', message: envelope.message });
    }
  }

  drop(filter: (envelope: Envelope) => boolean): void {
    this.network = this.network.filter((envelope) => !filter(envelope));
  }

  /** The process stops: its memory, timers and the messages to it are gone; storage stays. */
  crash(replicaId: number): void {
    this.up[replicaId] = false;
    this.timers[replicaId]?.clear();
    this.drop((envelope) => envelope.to === replicaId || envelope.from === replicaId);
  }

  /** A new process boots from storage, or with lost storage (a nonce) to recover. */
  restart(replicaId: number, lost?: { nonce: number }): void {
    this.up[replicaId] = true;
    this.states[replicaId] = this.fresh(replicaId);
    const stored = this.stored(replicaId);
    if (lost !== undefined) {
      this.storage[replicaId] = { header: null, checkpoint: null, log: { base: 0, log: [] } };
      this.handle(replicaId, { kind: 'boot', storage: { lost: true, nonce: lost.nonce } });
      return;
    }
    if (stored.header === null) throw new Error(`replica ${replicaId} never wrote a header`);
    this.handle(replicaId, { kind: 'boot', storage: { header: stored.header, checkpoint: stored.checkpoint, log: stored.log.log } });
  }

  at(replicaId: number): ReplicaState {
    const state = this.states[replicaId];
    if (state === undefined) throw new Error(`no replica ${replicaId}`);
    return state;
  }

  private stored(replicaId: number): Storage {
    const stored = this.storage[replicaId];
    if (stored === undefined) throw new Error(`no replica ${replicaId}`);
    return stored;
  }

  private fresh(replicaId: number): ReplicaState {
    return initialState({ replicaId, replicaCount: this.replicaCount, limits: this.limits }, counterMachine);
  }

  private carryOut(replicaId: number, effect: Effect): void {
    const stored = this.stored(replicaId);
    switch (effect.kind) {
      case 'send':
        this.network.push({ from: replicaId, to: effect.to, message: effect.message });
        return;
      case 'reply':
        this.replies.push(effect.reply);
        return;
      case 'log-append':
      case 'log-truncate':
      case 'log-release': {
        const problem = applyLogEffect(stored.log, effect);
        if (problem !== null) throw new Error(`replica ${replicaId}'s storage: ${problem}`);
        return;
      }
      case 'persist-header':
        stored.header = effect.header;
        return;
      case 'persist-checkpoint':
        stored.checkpoint = effect.checkpoint;
        return;
      case 'set-timer':
        this.timers[replicaId]?.add(effect.timer);
        return;
      case 'cancel-timer':
        this.timers[replicaId]?.delete(effect.timer);
        return;
      case 'reject':
        this.rejects.push(`replica ${replicaId}: ${effect.reason}`);
        return;
      case 'telemetry':
        return;
    }
  }
}
