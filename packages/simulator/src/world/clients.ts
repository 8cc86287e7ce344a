/**
 * The clients: each registers, then sends one request at a time (what the workload asks next),
 * thinks 0–10 ms between requests, retries after a timeout at the next replica with the same
 * request number, and follows redirects. A workload that returns null leaves the client idle
 * for a while. An operation whose outcome the client never learned stays indeterminate.
 */
import { repliedInput, routeAfterRedirect, type ClientRead, type ClientRequest, type Reply, type StateMachine } from '@vsr/core';
import { SafetyViolation } from '@vsr/testing';
import type { ClientView, Workload } from '../model.js';
import type { WorldContext } from './context.js';
import type { Network } from './network.js';
import type { SimulatedOperation } from './types.js';

interface PendingRequest {
  /** When the client first sent it. */
  readonly sinceMs: number;
  readonly requestNumber: number;
  readonly operation: unknown;
  /** Index into the history, or null for a registration. */
  readonly historyIndex: number | null;
  /** Sent as a read without the log (the operation is the query): its read number; null for a request. */
  readonly readNumber: number | null;
  /** Replicas that let a timeout pass for it: a redirect back to one of them is not followed. */
  readonly silent: Set<number>;
}

export interface SimClient {
  readonly index: number;
  id: string;
  sessions: number;
  registered: boolean;
  nextRequestNumber: number;
  nextReadNumber: number;
  target: number;
  /** The newest view a replica has answered from: a redirect from an older one is a stale hint. */
  viewNumberKnown: number;
  pending: PendingRequest | null;
  timerGeneration: number;
  done: boolean;
  completed: number;
  lastOperation: unknown;
  lastResult: unknown;
}

const REQUEST_TIMEOUT_MS = 400;
const IDLE_MIN_MS = 200;
const IDLE_MAX_MS = 2_000;
/**
 * Lulls: every so often all clients pause together (finishing what they have in flight), so
 * the cluster sits idle for longer than a primary timeout, whatever the workload. A primary
 * that stops heartbeating when idle is deposed in a lull, and the spurious-view-change check
 * (quiet.ts) reports it.
 */
const FIRST_LULL_MIN_MS = 200;
const FIRST_LULL_MAX_MS = 1_000;
const LULL_EVERY_MIN_MS = 1_000;
const LULL_EVERY_MAX_MS = 4_000;
const LULL_MIN_MS = 600;
const LULL_MAX_MS = 1_500;
/** Faults stop once this share of the requests has been issued. */
const FAULTS_UNTIL_ISSUED = 0.9;

export class Clients {
  readonly clients: SimClient[] = [];
  readonly history: SimulatedOperation[] = [];
  private lullEndsMs = 0;
  private nextLullMs: number;

  constructor(
    private readonly ctx: WorldContext,
    private readonly workload: Workload<unknown, unknown>,
    private readonly network: Network,
    /** The machine's reads, if the run sends some reads without the log (options.reads). */
    private readonly machineReads: StateMachine['reads'],
    private readonly hooks: { readonly endFaults: () => void; readonly workloadDone: () => void },
  ) {
    // The first lull comes early, so even a short run has one.
    this.nextLullMs = ctx.lullRandom.int(FIRST_LULL_MIN_MS, FIRST_LULL_MAX_MS);
  }

  /** Whether clients pause now; if so, the client asks again when the lull ends. */
  private inLull(client: SimClient): boolean {
    const { nowMs, lullRandom, queue } = this.ctx;
    if (nowMs >= this.nextLullMs) {
      this.lullEndsMs = nowMs + lullRandom.int(LULL_MIN_MS, LULL_MAX_MS);
      this.nextLullMs = this.lullEndsMs + lullRandom.int(LULL_EVERY_MIN_MS, LULL_EVERY_MAX_MS);
    }
    if (nowMs >= this.lullEndsMs) return false;
    queue.push(this.lullEndsMs, { kind: 'client-next', client: client.index });
    return true;
  }

  start(): void {
    for (let c = 0; c < this.ctx.options.clientCount; c++) {
      this.clients.push({
        index: c,
        id: `c${c}`,
        sessions: 1,
        registered: false,
        nextRequestNumber: 0,
        nextReadNumber: 1,
        target: 0,
        viewNumberKnown: 0,
        pending: null,
        timerGeneration: 0,
        done: false,
        completed: 0,
        lastOperation: undefined,
        lastResult: undefined,
      });
      this.ctx.queue.push(this.ctx.clientRandom.int(0, 20), { kind: 'client-next', client: c });
    }
  }

  get(client: number): SimClient {
    const found = this.clients[client];
    if (found === undefined) throw new Error(`no client ${client}`);
    return found;
  }

  /** The client whose current session has this id (undefined: an older session's). */
  indexOf(clientId: string): number | undefined {
    const match = /^c(\d+)/.exec(clientId);
    const client = match ? this.clients[Number(match[1])] : undefined;
    return client?.id === clientId ? client.index : undefined;
  }

  next(client: SimClient): void {
    const ctx = this.ctx;
    if (client.pending !== null) return;
    if (!client.registered) {
      client.pending = { sinceMs: ctx.nowMs, requestNumber: client.nextRequestNumber++, operation: null, historyIndex: null, readNumber: null, silent: new Set() };
      this.send(client);
      return;
    }
    if (ctx.counters.issued >= ctx.options.requests) {
      client.done = true;
      if (this.clients.every((each) => each.done)) this.hooks.workloadDone();
      return;
    }
    if (this.inLull(client)) return;
    const view: ClientView<unknown, unknown> = { clientIndex: client.index, completed: client.completed, lastOperation: client.lastOperation, lastResult: client.lastResult };
    const operation = this.workload.next(ctx.workloadRandom, view);
    if (operation === null) {
      // Nothing to ask now: an idle period, in which a healthy cluster must stay quiet.
      const idleMs = ctx.clientRandom.int(ctx.options.idleMinMs ?? IDLE_MIN_MS, ctx.options.idleMaxMs ?? IDLE_MAX_MS);
      ctx.queue.push(ctx.nowMs + idleMs, { kind: 'client-next', client: client.index });
      return;
    }
    this.call(client, operation);
  }

  private call(client: SimClient, operation: unknown): void {
    const ctx = this.ctx;
    const historyIndex = this.history.length;
    this.history.push({ id: historyIndex, clientId: client.id, operation, callMs: ctx.nowMs, returnMs: null, outcome: { type: 'indeterminate' } });
    if (ctx.tracing) ctx.recorder.push({ atMs: ctx.nowMs, kind: 'call', client: client.id, id: historyIndex, operation });
    client.pending = this.asRead(operation)
      ? { sinceMs: ctx.nowMs, requestNumber: client.nextRequestNumber, operation, historyIndex, readNumber: client.nextReadNumber++, silent: new Set() }
      : { sinceMs: ctx.nowMs, requestNumber: client.nextRequestNumber++, operation, historyIndex, readNumber: null, silent: new Set() };
    ctx.counters.issued++;
    if (ctx.faultsActive && ctx.counters.issued >= ctx.options.requests * FAULTS_UNTIL_ISSUED) this.hooks.endFaults();
    this.send(client);
  }

  private send(client: SimClient): void {
    const ctx = this.ctx;
    const pending = client.pending;
    if (pending === null) return;
    const request: ClientRequest | ClientRead =
      pending.readNumber === null
        ? { clientId: client.id, requestNumber: pending.requestNumber, operation: pending.operation }
        : { clientId: client.id, readNumber: pending.readNumber, query: pending.operation };
    if (!this.network.loseRequest()) {
      ctx.queue.push(ctx.nowMs + this.network.delay(), { kind: 'request', to: client.target, client: client.index, request });
    }
    client.timerGeneration++;
    ctx.queue.push(ctx.nowMs + (ctx.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS), {
      kind: 'client-timeout',
      client: client.index,
      generation: client.timerGeneration,
    });
  }

  /** No answer in time: the same request, at the next replica. */
  onTimeout(client: SimClient, generation: number): void {
    if (client.pending === null || client.timerGeneration !== generation) return;
    client.pending.silent.add(client.target);
    client.target = (client.target + 1) % this.ctx.options.replicaCount;
    this.send(client);
  }

  /** Whether this operation goes as a read without the log: one the machine answers as a query, in the share options.reads asks. */
  private asRead(operation: unknown): boolean {
    const mode = this.ctx.options.reads ?? 'log';
    if (mode === 'log' || this.machineReads === undefined || this.machineReads.query.decode(operation)._tag === 'Left') return false;
    return mode === 'direct' || this.ctx.clientRandom.int(0, 1) === 0;
  }

  onReply(client: SimClient, reply: Reply): void {
    const pending = client.pending;
    if (pending === null || reply.clientId !== client.id) return;
    // Only an answer to what is pending counts: the same kind (request or read), the same number.
    const answered = repliedInput(reply);
    const [kind, number] = pending.readNumber === null ? ['request', pending.requestNumber] : ['read', pending.readNumber];
    if (answered.kind !== kind || answered.number !== number) return;
    switch (reply.type) {
      case 'reply':
      case 'read-reply':
        client.viewNumberKnown = Math.max(client.viewNumberKnown, reply.viewNumber);
        return this.answered(client, pending, reply.result);
      case 'redirect':
      case 'read-redirect':
        return this.redirected(client, pending, reply.viewNumber, reply.primary);
      case 'error':
      case 'read-error':
        if (reply.code === 'busy') return; // The timeout retries.
        if (reply.code === 'not-registered') return this.newSession(client);
        throw new SafetyViolation(`client ${client.id} got ${reply.code} for a valid ${kind}: ${reply.message}`);
    }
  }

  /** A redirect: the same request (or read) goes where `routeAfterRedirect` says, the rule every client follows. */
  private redirected(client: SimClient, pending: PendingRequest, viewNumber: number, primary: number): void {
    const replicaCount = this.ctx.options.replicaCount;
    const route = routeAfterRedirect({ from: client.target, viewNumber, primary }, { replicaCount, viewNumberKnown: client.viewNumberKnown, silent: pending.silent });
    client.viewNumberKnown = route.viewNumberKnown;
    if (route.forgive !== null) pending.silent.delete(route.forgive);
    if (route.follow && route.to === client.target) return; // Changing views, naming itself: the timeout retries.
    client.target = route.to;
    this.send(client);
  }

  private answered(client: SimClient, pending: PendingRequest, result: unknown): void {
    const ctx = this.ctx;
    client.pending = null;
    client.timerGeneration++;
    if (pending.historyIndex === null) {
      client.registered = true;
    } else {
      const entry = this.history[pending.historyIndex];
      if (entry !== undefined) this.history[pending.historyIndex] = { ...entry, returnMs: ctx.nowMs, outcome: { type: 'ok', result } };
      ctx.counters.requestsOk++;
      if (pending.readNumber !== null) ctx.counters.readsDirect++;
      client.completed++;
      client.lastOperation = entry?.operation;
      client.lastResult = result;
      if (ctx.tracing) ctx.recorder.push({ atMs: ctx.nowMs, kind: 'return', client: client.id, id: pending.historyIndex, result });
    }
    // Think time: clients pause between requests, so a run spans enough time for faults to land.
    ctx.queue.push(ctx.nowMs + ctx.clientRandom.int(0, 10), { kind: 'client-next', client: client.index });
  }

  /**
   * The session was evicted: the outcome of this request is unknown (it stays indeterminate);
   * a new session under a fresh client id.
   */
  private newSession(client: SimClient): void {
    client.pending = null;
    client.sessions++;
    client.id = `c${client.index}.${client.sessions}`;
    client.registered = false;
    client.nextRequestNumber = 0;
    this.ctx.queue.push(this.ctx.nowMs + 1, { kind: 'client-next', client: client.index });
  }

  /** Every request still waiting for an answer. */
  outstanding(): string[] {
    return this.clients.flatMap((client) => (client.pending !== null ? [`${client.id}#${client.pending.requestNumber}→r${client.target}`] : []));
  }

  /** Requests still unanswered longer than the bound (counted from when sent or from the healing). */
  stuck(boundMs: number): string[] {
    const ctx = this.ctx;
    return this.clients.flatMap((client) =>
      client.pending !== null && ctx.nowMs - Math.max(client.pending.sinceMs, ctx.faultsEndedMs) > boundMs
        ? [`${client.id}#${client.pending.requestNumber}→r${client.target}`]
        : [],
    );
  }
}
