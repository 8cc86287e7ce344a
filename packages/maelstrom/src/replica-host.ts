/**
 * One `@vsr/core` replica in a Maelstrom node: it feeds the reducer events one at a time and
 * carries out its effects under the effect contract (docs/architecture.md).
 *
 * - Storage effects go to memory (`MemoryStore`). A Maelstrom node is not durable: what it
 *   stored is gone when the process ends, and lin-kv never restarts a node. Memory is durable
 *   the moment an effect is applied, in order, so a send or reply that follows a write may
 *   leave at once (the strict form of the contract, as in the message-by-message harness):
 *   there is no flush for group commit to wait on.
 * - Sends go to the peer callback (Maelstrom messages on stdout); replies to whoever waits on
 *   that client's request (`ReplyRoutes` of `@vsr/runtime`).
 * - Timers are named `setTimeout`s, a new one replacing the old; the clock is `Date.now()`.
 * - Status and view changes are logged; refused input is logged (rate-limited).
 *
 * The reducer is total on any input: if it throws, or a state it returns breaks the invariants
 * the core documents (`checkReplicaInvariants`, run after every step, as the harness and the
 * simulator do), the replica has a bug, and it stops and reports it rather than run on.
 */
import {
  applyStorageEffect,
  checkReplicaInvariants,
  initialState,
  primaryOf,
  readClientId,
  unreadableClientIdReply,
  type Checkpoint,
  type DurableHeader,
  type Effect,
  type Event,
  type Message,
  type ReplicaState,
  type Reply,
  type StateMachine,
  type StoredLog,
} from '@vsr/core';
import { NamedTimers, ReplyRoutes, globalTimers, timedStep } from '@vsr/runtime';
import type { NodeLog } from './log.js';

export interface ReplicaHostOptions<S, Op, R> {
  /** The replica's configuration (validated by the core: a `ConfigError` names the field). */
  readonly config: unknown;
  readonly machine: StateMachine<S, Op, R>;
  /** Sends a protocol message to replica `to`. */
  readonly sendPeer: (to: number, message: Message) => void;
  readonly log: NodeLog;
  /** The replica stopped on a broken invariant or a broken storage contract. */
  readonly onFatal: (error: Error) => void;
}

/** What the replica stored, in memory: the header, the checkpoint and the log, as the effects left them. */
export class MemoryStore {
  header: DurableHeader | null = null;
  checkpoint: Checkpoint | null = null;
  readonly log: StoredLog = { base: 0, log: [] };

  /** Applies one storage effect; throws if an append does not follow the log (the reducer broke the contract). */
  apply(effect: Effect): void {
    const problem = applyStorageEffect(this, effect);
    if (problem !== null) throw new Error(`storage: ${problem}`);
  }
}

export class ReplicaHost<S, Op, R> {
  private state: ReplicaState;
  readonly store = new MemoryStore();
  private readonly timers = new NamedTimers(globalTimers);
  private readonly replies: ReplyRoutes;
  private stopped = false;

  /** Throws a `ConfigError` for a configuration the core refuses. */
  constructor(private readonly options: ReplicaHostOptions<S, Op, R>) {
    this.state = initialState(options.config, options.machine);
    this.replies = new ReplyRoutes(this.state.config.limits.clientTableMax);
  }

  get replicaId(): number {
    return this.state.config.replicaId;
  }

  get replicaCount(): number {
    return this.state.config.replicaCount;
  }

  /** The primary of the view this replica is in, if it is in normal status there (null while it changes views, recovers or boots). */
  get primary(): number | null {
    return this.state.status === 'normal' ? primaryOf(this.state.viewNumber, this.state.config.replicaCount) : null;
  }

  /** The reducer's state, for tests and tools. */
  get current(): ReplicaState {
    return this.state;
  }

  /** The first event: a replica formed with a new cluster, which has never spoken. */
  boot(): void {
    this.run({ kind: 'boot', storage: null });
  }

  /** A peer's message, decoded with the core's codec by the caller. */
  deliver(message: Message): void {
    this.run({ kind: 'message', message });
  }

  /** A client's request or read (untrusted: the core validates it); `respond` gets this replica's answer. */
  submit(request: unknown, respond: (reply: Reply) => void): void {
    if (this.stopped) return;
    const clientId = readClientId(request);
    if (clientId === null) return respond(unreadableClientIdReply());
    this.replies.route(clientId, request, respond);
    this.run({ kind: 'client-request', request, receivedAtMs: Date.now() });
  }

  stop(): void {
    this.stopped = true;
    this.timers.stop();
  }

  private run(event: Event): void {
    if (this.stopped) return;
    const before = this.state;
    let effects: readonly Effect[];
    try {
      const stepped = timedStep(this.state, event, () => performance.now());
      // A test bed: every state is checked against the invariants state.ts writes on its fields (O(pipeline + votes)).
      checkReplicaInvariants(stepped.state);
      this.state = stepped.state;
      effects = stepped.effects;
    } catch (error) {
      return this.fail('the core broke an invariant, a bug', error);
    }
    if (before.status !== this.state.status || before.viewNumber !== this.state.viewNumber) this.logTransition(before);
    try {
      for (const effect of effects) this.carryOut(effect);
    } catch (error) {
      this.fail('carrying out an effect failed', error);
    }
  }

  /** The effect contract: storage to memory (durable at once), then sends and replies in order, named timers. */
  private carryOut(effect: Effect): void {
    switch (effect.kind) {
      case 'log-append':
      case 'log-truncate':
      case 'log-release':
      case 'persist-header':
      case 'persist-checkpoint':
        return this.store.apply(effect);
      case 'send':
        return this.options.sendPeer(effect.to, effect.message);
      case 'reply':
        return this.replies.deliver(effect.clientId, effect.reply);
      case 'set-timer': {
        const timer = effect.timer;
        return this.timers.set(timer, effect.afterMs, () => this.run({ kind: 'timeout', timer }));
      }
      case 'cancel-timer':
        return this.timers.cancel(effect.timer);
      case 'telemetry':
        return;
      case 'reject':
        return this.options.log.refuse(`${effect.input}: ${effect.reason}`);
    }
  }

  private logTransition(before: ReplicaState): void {
    const after = this.state;
    const primary = primaryOf(after.viewNumber, after.config.replicaCount);
    const role = after.status !== 'normal' ? '' : primary === after.config.replicaId ? '; this replica is the primary' : `; replica ${primary} is the primary`;
    this.options.log.info(`replica ${after.config.replicaId}: ${before.status} in view ${before.viewNumber} -> ${after.status} in view ${after.viewNumber}${role}`);
  }

  private fail(what: string, cause: unknown): void {
    this.stop();
    const error = cause instanceof Error ? cause : new Error(String(cause));
    this.options.onFatal(new Error(`replica ${this.state.config.replicaId}: ${what} (${error.message}); the replica stopped`, { cause: error }));
  }
}
