/**
 * The core in one process: three replicas of `@vsr/core` running `@vsr/kv`, every message
 * delivered in FIFO order through `step` (so every one is decoded and validated as it would be
 * off the wire), W distinct clients each keeping one 100-byte write in flight: a client sends
 * its next request as soon as its reply arrives. Prints committed requests per second and the
 * CPU time per committed request over the three replicas, at W = 1, 64 and 1,024. Storage and
 * timers are not simulated: writes are taken as durable at once, and no timer fires. With
 * `--op read` each client keeps a read without the log in flight instead (answered after the
 * primary's confirmation round), and the figures count answered reads.
 *
 *   npx tsx packages/kv/bench/in-process.bench.ts [--seconds S] [--clients 1,64,1024] [--op write|read] [--json]
 */
import { parseArgs } from 'node:util';
import { initialState, step, type Effect, type Event, type ReplicaState } from '@vsr/core';
import { kvMachine, type KvOperation } from '../src/index.js';

const REPLICA_COUNT = 3;
const VALUE = 'v'.repeat(100);

interface Flags {
  readonly seconds: number;
  readonly clients: readonly number[];
  readonly json: boolean;
  readonly op: 'write' | 'read';
}

function flags(): Flags {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, clients: { type: 'string' }, op: { type: 'string' }, json: { type: 'boolean' } } });
  const op = values.op ?? 'write';
  if (op !== 'write' && op !== 'read') throw new Error('usage: --op write|read');
  const seconds = Number(values.seconds ?? 3);
  const clients = (values.clients ?? '1,64,1024').split(',').map(Number);
  if (!(seconds > 0) || clients.some((count) => !Number.isSafeInteger(count) || count < 1)) throw new Error('usage: --seconds S (> 0) --clients N,N,... (positive integers)');
  return { seconds, clients, json: values.json === true, op };
}

/** A three-replica cluster whose messages go through one FIFO queue. */
class Cluster {
  readonly replicas: ReplicaState[];
  private readonly queue: Array<[number, Event]> = [];
  private head = 0;
  steps = 0;
  committed = 0;
  private readonly requestNumbers: number[];

  constructor(
    private readonly clientCount: number,
    private readonly op: 'write' | 'read',
  ) {
    this.replicas = Array.from({ length: REPLICA_COUNT }, (_, replicaId) => initialState({ replicaId, replicaCount: REPLICA_COUNT }, kvMachine));
    for (let r = 0; r < REPLICA_COUNT; r++) this.run(r, { kind: 'boot', storage: null });
    this.requestNumbers = new Array<number>(clientCount).fill(0);
    // Each client registers (request number 0); every reply sends its next request.
    for (let client = 0; client < clientCount; client++) this.send(client);
  }

  private send(client: number): void {
    if (this.op === 'read') {
      const readNumber = this.requestNumbers[client]! + 1;
      this.requestNumbers[client] = readNumber;
      const query: KvOperation = { type: 'read', key: `k${(client * 7919 + readNumber) % 1000}` };
      this.queue.push([0, { kind: 'client-request', request: { clientId: `client-${client}`, readNumber, query } }]);
      return;
    }
    const requestNumber = this.requestNumbers[client]!;
    this.requestNumbers[client] = requestNumber + 1;
    const operation: KvOperation | null = requestNumber === 0 ? null : { type: 'write', key: `k${(client * 7919 + requestNumber) % 1000}`, value: VALUE };
    this.queue.push([0, { kind: 'client-request', request: { clientId: `client-${client}`, requestNumber, operation } }]);
  }

  private run(replica: number, event: Event): void {
    const [state, effects] = step(this.replicas[replica]!, event);
    this.replicas[replica] = state;
    this.steps++;
    this.carryOut(replica, effects);
  }

  private carryOut(replica: number, effects: readonly Effect[]): void {
    for (const effect of effects) {
      if (effect.kind === 'send') this.queue.push([effect.to, { kind: 'message', message: effect.message }]);
      else if (effect.kind === 'reply' && replica === 0 && effect.reply.type === 'reply') {
        if (effect.reply.requestNumber > 0) this.committed++;
        this.send(Number(effect.reply.clientId.slice('client-'.length)));
      } else if (effect.kind === 'reply' && replica === 0 && effect.reply.type === 'read-reply') {
        this.committed++;
        this.send(Number(effect.reply.clientId.slice('client-'.length)));
      } else if (effect.kind === 'reply' && (effect.reply.type === 'error' || effect.reply.type === 'read-error')) {
        throw new Error(`refused: ${effect.reply.message}`);
      }
    }
  }

  /** Delivers queued events until `untilMs` passes (checked every 256 steps); clients keep it from ever running dry. */
  drain(untilMs: number): void {
    while (this.head < this.queue.length) {
      const [replica, event] = this.queue[this.head++]!;
      this.run(replica, event);
      if (this.head === this.queue.length || this.head > 65_536) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      if ((this.steps & 255) === 0 && performance.now() > untilMs) return;
    }
  }
}

interface Figure {
  readonly clients: number;
  readonly committedPerSecond: number;
  readonly cpuMicrosecondsPerRequest: number;
  readonly stepsPerRequest: number;
}

function measure(clientCount: number, seconds: number, op: 'write' | 'read'): Figure {
  const cluster = new Cluster(clientCount, op);
  cluster.drain(performance.now() + 300); // warm-up
  const committed = cluster.committed;
  const steps = cluster.steps;
  const cpu = process.cpuUsage();
  const startedMs = performance.now();
  cluster.drain(startedMs + seconds * 1000);
  const elapsedMs = performance.now() - startedMs;
  const used = process.cpuUsage(cpu);
  const requests = cluster.committed - committed;
  return {
    clients: clientCount,
    committedPerSecond: Math.round((requests / elapsedMs) * 1000),
    cpuMicrosecondsPerRequest: Number(((used.user + used.system) / requests).toFixed(2)),
    stepsPerRequest: Number(((cluster.steps - steps) / requests).toFixed(2)),
  };
}

const options = flags();
const figures = options.clients.map((clients) => measure(clients, options.seconds, options.op));
if (options.json) console.log(JSON.stringify({ bench: 'in-process', op: options.op, figures }));
else {
  const what = options.op === 'read' ? 'reads without the log' : '100-byte writes';
  console.log(`three replicas in one process, @vsr/kv, ${what}, FIFO delivery, ${options.seconds} s per W`);
  for (const figure of figures) {
    console.log(
      `W = ${String(figure.clients).padStart(5)}  ${figure.committedPerSecond.toLocaleString('en-US').padStart(9)} committed/s  ` +
        `${figure.cpuMicrosecondsPerRequest.toFixed(2).padStart(7)} µs CPU per request  ${figure.stepsPerRequest.toFixed(2)} steps per request`,
    );
  }
}
