/**
 * Random schedules for property tests: a schedule is a list of actions
 * (deliver, lose, duplicate, fire a timer, crash, restart, partition, a
 * client sends or retries), drawn and shrunk by fast-check. `runSchedule`
 * plays one against a Cluster running `options.machine` (any pure
 * StateMachine whose operations may be strings: the clients send
 * `<client>-<n>`, which `recorderMachine` records), then heals everything and
 * lets the cluster settle, so a test can check safety during the chaos and
 * liveness and convergence after it. Replicas that agree on everything but
 * their application state are reported as a divergence, naming the op where
 * two replays of the log differ when the machine is not deterministic.
 */
import fc from 'fast-check';
import { TimerName, faultsTolerated, type Limits, type Log, type Reply, type StateMachine } from '@vsr/core';
import { Cluster } from './cluster.js';
import { SafetyViolation } from './monitor.js';

export type Action =
  | { readonly kind: 'deliver'; readonly index: number }
  | { readonly kind: 'lose'; readonly index: number }
  | { readonly kind: 'duplicate'; readonly index: number }
  | { readonly kind: 'timer'; readonly replica: number; readonly index: number }
  | { readonly kind: 'client'; readonly client: number; readonly replica: number }
  | { readonly kind: 'crash'; readonly replica: number }
  | { readonly kind: 'restart'; readonly replica: number }
  | { readonly kind: 'wipe'; readonly replica: number }
  | { readonly kind: 'isolate'; readonly replica: number }
  | { readonly kind: 'heal' };

export interface ScheduleOptions {
  readonly replicaCount: number;
  readonly clientCount: number;
  readonly actionsMax: number;
  /** Include crashes and restarts (default true). */
  readonly crashes?: boolean;
  /** Keep the cluster's trace (slower; for replaying a counterexample). */
  readonly trace?: boolean;
  /** Replica limits, e.g. a small checkpoint interval so checkpoints happen often. */
  readonly limits?: Partial<Limits>;
}

export function actionArbitrary(options: ScheduleOptions): fc.Arbitrary<Action> {
  const replica = fc.integer({ min: 0, max: options.replicaCount - 1 });
  const index = fc.nat({ max: 1000 });
  const weighted: Array<fc.WeightedArbitrary<Action>> = [
    { weight: 30, arbitrary: index.map((i) => ({ kind: 'deliver', index: i }) as const) },
    { weight: 3, arbitrary: index.map((i) => ({ kind: 'lose', index: i }) as const) },
    { weight: 2, arbitrary: index.map((i) => ({ kind: 'duplicate', index: i }) as const) },
    {
      weight: 5,
      arbitrary: fc.record({ kind: fc.constant('timer' as const), replica, index: fc.nat({ max: 5 }) }),
    },
    {
      weight: 8,
      arbitrary: fc.record({
        kind: fc.constant('client' as const),
        client: fc.integer({ min: 0, max: options.clientCount - 1 }),
        replica,
      }),
    },
    { weight: 1, arbitrary: replica.map((r) => ({ kind: 'isolate', replica: r }) as const) },
    { weight: 1, arbitrary: fc.constant({ kind: 'heal' } as const) },
  ];
  if (options.crashes ?? true) {
    weighted.push(
      { weight: 1, arbitrary: replica.map((r) => ({ kind: 'crash', replica: r }) as const) },
      { weight: 2, arbitrary: replica.map((r) => ({ kind: 'restart', replica: r }) as const) },
      { weight: 1, arbitrary: replica.map((r) => ({ kind: 'wipe', replica: r }) as const) },
    );
  }
  return fc.oneof(...weighted);
}

export function scheduleArbitrary(options: ScheduleOptions): fc.Arbitrary<Action[]> {
  return fc.array(actionArbitrary(options), { maxLength: options.actionsMax, size: 'max' });
}

interface SimpleClient {
  readonly id: string;
  nextRequestNumber: number;
  outstanding: { requestNumber: number; operation: string | null } | null;
  completed: number;
}

export interface ScheduleOutcome {
  readonly cluster: Cluster;
  readonly completedRequests: number;
  readonly settled: boolean;
}

/** Every timer the reducer names. */
const TIMERS = Object.keys(TimerName.keys) as TimerName[];
const RETRY_TIMERS: readonly TimerName[] = ['heartbeat', 'prepare-retry', 'repair-retry', 'view-change-retry', 'recovery-retry'];
const TIMEOUT_TIMERS: readonly TimerName[] = ['primary-timeout', 'view-change-timeout'];

/**
 * Plays a schedule, then heals, restarts every replica and settles. Throws
 * SafetyViolation on any broken property (the harness checks agreement and
 * durability after every step; this adds client-visible consistency,
 * exactly-once execution, liveness and convergence).
 */
export function runSchedule(actions: readonly Action[], options: ScheduleOptions & { machine: StateMachine }): ScheduleOutcome {
  const run = new ScheduleRun(options);
  try {
    for (const action of actions) {
      run.play(action);
      run.absorbReplies();
    }
    return run.settle();
  } catch (error) {
    if (error instanceof SafetyViolation && run.cluster.trace.length > 0) {
      error.message += `\n--- last steps ---\n${run.cluster.trace.slice(-60).join('\n')}\n--- replicas ---\n${run.cluster.describe()}`;
    }
    throw error;
  }
}

/** One schedule being played: the cluster, its simple clients, and the results they were answered. */
class ScheduleRun {
  readonly cluster: Cluster;
  private readonly f: number;
  private readonly clients: SimpleClient[] = [];
  private readonly results = new Map<string, string>();
  private repliesSeen = 0;

  constructor(private readonly options: ScheduleOptions & { machine: StateMachine }) {
    this.cluster = new Cluster({
      replicaCount: options.replicaCount,
      machine: options.machine,
      trace: options.trace ?? false,
      ...(options.limits === undefined ? {} : { limits: options.limits }),
    });
    this.f = faultsTolerated(options.replicaCount);
    for (let c = 0; c < options.clientCount; c++) {
      this.clients.push({ id: `c${c}`, nextRequestNumber: 0, outstanding: null, completed: 0 });
    }
  }

  play(action: Action): void {
    const cluster = this.cluster;
    switch (action.kind) {
      case 'deliver':
      case 'lose':
      case 'duplicate': {
        if (cluster.network.length === 0) return;
        const envelope = cluster.network[action.index % cluster.network.length]!;
        if (action.kind === 'deliver') cluster.deliver(envelope);
        else if (action.kind === 'lose') cluster.drop((candidate) => candidate.id === envelope.id);
        else cluster.duplicate(envelope);
        return;
      }
      case 'timer': {
        if (!cluster.up[action.replica]) return;
        const armed = TIMERS.filter((timer) => cluster.isArmed(action.replica, timer));
        if (armed.length > 0) cluster.fire(action.replica, armed[action.index % armed.length]!);
        return;
      }
      case 'client':
        return this.send(this.clients[action.client]!, action.replica);
      case 'crash':
        if (cluster.up[action.replica] && this.downCount() < this.f) cluster.crash(action.replica);
        return;
      case 'restart':
        if (!cluster.up[action.replica]) cluster.restart(action.replica);
        return;
      case 'wipe':
        if (!cluster.up[action.replica] || this.downCount() < this.f) {
          cluster.wipe(action.replica);
          cluster.restart(action.replica);
        }
        return;
      case 'isolate':
        return cluster.isolate(action.replica);
      case 'heal':
        return cluster.heal();
    }
  }

  /**
   * The faults end: every replica runs, the network is whole. Liveness: every
   * outstanding request completes within a bounded number of rounds; then no
   * request executed twice.
   */
  settle(): ScheduleOutcome {
    const cluster = this.cluster;
    cluster.heal();
    for (let r = 0; r < this.options.replicaCount; r++) if (!cluster.up[r]) cluster.restart(r);
    let settled = false;
    for (let round = 0; round < 60 && !settled; round++) {
      settled = this.settleRound(round);
      // Everything answered and every replica at the same op, yet different states: waiting longer
      // (and timing out into view changes) cannot help, and would hide what went wrong.
      const diverged = settled || this.clients.some((client) => client.outstanding !== null) ? null : divergence(cluster);
      if (diverged !== null) throw new SafetyViolation(`${diverged}\n${cluster.describe()}`);
    }
    if (!settled) throw new SafetyViolation(`liveness: the healed cluster did not settle\n${cluster.describe()}`);
    for (let r = 0; r < this.options.replicaCount; r++) {
      const app = cluster.states[r]!.app.value as { duplicates?: number };
      if (typeof app.duplicates === 'number' && app.duplicates > 0) {
        throw new SafetyViolation(`replica ${r} executed ${app.duplicates} requests twice`);
      }
    }
    return { cluster, completedRequests: this.completed(), settled };
  }

  /** One round of settling: deliver, retry at the primary, fire the retry timers; the timeouts only when a few rounds go by with no progress. */
  private settleRound(round: number): boolean {
    const cluster = this.cluster;
    const before = this.completed();
    cluster.deliverAll();
    const primary = cluster.primary();
    for (const client of this.clients) {
      if (client.outstanding !== null) this.send(client, primary ?? round % this.options.replicaCount);
    }
    cluster.deliverAll();
    this.absorbReplies();
    fireAll(cluster, RETRY_TIMERS);
    cluster.deliverAll();
    this.absorbReplies();
    const after = this.completed();
    const settled = this.clients.every((client) => client.outstanding === null) && converged(cluster);
    if (!settled && after === before && round % 3 === 2) fireAll(cluster, TIMEOUT_TIMERS);
    return settled;
  }

  /** Reads the replies that arrived since the last call: each must agree with earlier answers to its request. */
  absorbReplies(): void {
    for (; this.repliesSeen < this.cluster.replies.length; this.repliesSeen++) {
      const { reply } = this.cluster.replies[this.repliesSeen]!;
      if (reply.type !== 'reply') {
        if (reply.type === 'error' && reply.code !== 'busy') {
          throw new SafetyViolation(`client ${reply.clientId} got an error it should never see: ${reply.message}`);
        }
        continue;
      }
      checkConsistentReply(this.results, reply);
      const client = this.clients.find((candidate) => candidate.id === reply.clientId);
      if (client?.outstanding && client.outstanding.requestNumber === reply.requestNumber) {
        client.outstanding = null;
        client.completed++;
      }
    }
  }

  /** The client's outstanding request (a new one if none) to `replica`, if it is up. */
  private send(client: SimpleClient, replica: number): void {
    if (client.outstanding === null) {
      const requestNumber = client.nextRequestNumber++;
      client.outstanding = { requestNumber, operation: requestNumber === 0 ? null : `${client.id}-${requestNumber}` };
    }
    if (!this.cluster.up[replica]) return;
    this.cluster.request(replica, client.id, client.outstanding.requestNumber, client.outstanding.operation);
  }

  /** A recovering replica cannot vote: it counts as down against the f the protocol survives. */
  private downCount(): number {
    return this.cluster.up.filter((up, r) => !up || this.cluster.states[r]!.status === 'recovering').length;
  }

  private completed(): number {
    return this.clients.reduce((sum, client) => sum + client.completed, 0);
  }
}

function fireAll(cluster: Cluster, timers: readonly TimerName[]): void {
  for (let r = 0; r < cluster.replicaCount; r++) {
    for (const timer of timers) if (cluster.up[r] && cluster.isArmed(r, timer)) cluster.fire(r, timer);
  }
}

/** Every replica executed the same ops and holds the same application state. */
export function converged(cluster: Cluster): boolean {
  const first = cluster.states[0]!;
  const snapshot = JSON.stringify(cluster.machine.snapshot(first.app.value));
  return cluster.states.every(
    (state) =>
      state.status === 'normal' &&
      state.viewNumber === first.viewNumber &&
      state.commitNumber === first.commitNumber &&
      state.log.lastOpNumber === state.commitNumber &&
      JSON.stringify(cluster.machine.snapshot(state.app.value)) === snapshot,
  );
}

/**
 * Replicas in one view, all executed to the same op with nothing pending, but holding different
 * application states: the machine is not a function of the log. Null when that is not the case.
 */
export function divergence(cluster: Cluster): string | null {
  const states = cluster.states;
  const first = states[0];
  if (first === undefined) return null;
  const aligned = states.every(
    (state) => state.status === 'normal' && state.viewNumber === first.viewNumber && state.commitNumber === first.commitNumber && state.log.lastOpNumber === state.commitNumber,
  );
  if (!aligned) return null;
  const snapshots = states.map((state) => JSON.stringify(cluster.machine.snapshot(state.app.value)));
  const other = snapshots.findIndex((snapshot) => snapshot !== snapshots[0]);
  if (other < 0) return null;
  const whole = states.find((state) => state.log.baseOpNumber === 0);
  const op = whole === undefined ? null : firstNondeterministicOp(cluster.machine, whole.log, whole.commitNumber);
  const where = op === null ? '' : `; replaying the log twice, op ${op} leaves two different states: the machine is not deterministic`;
  return `divergence: replicas 0 and ${other} executed the same ${first.commitNumber} ops in view ${first.viewNumber} but hold different states${where}`;
}

/** The first op of the log after which two replays from the machine's initial state differ, or null. */
function firstNondeterministicOp(machine: StateMachine, log: Log, lastOpNumber: number): number | null {
  let a = machine.init();
  let b = machine.init();
  const seen = new Set<string>();
  for (let opNumber = 1; opNumber <= lastOpNumber; opNumber++) {
    const entry = log.entryAt(opNumber);
    if (entry === undefined) return null;
    for (const request of entry.requests) {
      const key = `${request.clientId}#${request.requestNumber}`;
      const decoded = machine.operation.decode(request.operation);
      if (request.requestNumber === 0 || seen.has(key) || decoded._tag === 'Left') continue;
      seen.add(key);
      const context = { opNumber, timestampMs: entry.timestampMs, clientId: request.clientId, requestNumber: request.requestNumber };
      [a] = machine.apply(a, decoded.right, context);
      [b] = machine.apply(b, decoded.right, context);
    }
    if (JSON.stringify(machine.snapshot(a)) !== JSON.stringify(machine.snapshot(b))) return opNumber;
  }
  return null;
}

/** A request's result never changes between replies (a duplicate gets the cached reply, never a re-execution). */
function checkConsistentReply(results: Map<string, string>, reply: Extract<Reply, { type: 'reply' }>): void {
  const key = `${reply.clientId}#${reply.requestNumber}`;
  const result = JSON.stringify(reply.result);
  const previous = results.get(key);
  if (previous === undefined) results.set(key, result);
  else if (previous !== result) {
    throw new SafetyViolation(`request ${key} was answered ${previous} and later ${result}`);
  }
}
