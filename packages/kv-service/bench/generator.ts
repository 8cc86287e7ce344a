/**
 * The closed-loop load generator that `npm run bench:kv` (load.ts) and
 * `npm run bench:etcd` (etcd.ts) share, with its percentiles and the servers'
 * CPU from /proc. What a request is belongs to the caller: each client gets a
 * `LoadConnection` whose `put` sends one write and classifies the answer.
 *
 * Each client has one connection and one request outstanding at a time: a
 * write of a `valueBytes` value on a key drawn uniformly from `keys` keys
 * (`bench-000` … `bench-999` for 1,000). After `warmup` seconds (not counted),
 * every request started during the next `seconds` seconds is measured, the
 * last ones waited for. Latency is client-side, from just before the request
 * is written to its classified answer, with process.hrtime.bigint();
 * percentiles are nearest-rank over every measured success.
 */
import { readFileSync } from 'node:fs';
import { KEY_LENGTH_MAX } from '@vsr/kv';

/** A failed request: its kind (errors are counted by kind) and an example message. */
export type Failure = readonly [kind: string, example: string];

/** One client's connection to one server. */
export interface LoadConnection {
  /** The server, as error kinds name it (for example http://127.0.0.1:7500). */
  readonly label: string;
  /**
   * Sends one request (a write, or with `--op get` a read; `value` is then unused) and classifies the answer: null for a success, else the failure. A rejection (a socket
   * error, no answer in time) is classified by the generator: the error's `code`, `client timeout` for
   * a message "no answer … within …", or `socket error`.
   */
  call(key: string, value: string): Promise<Failure | null>;
  close(): void;
}

export interface LoadPlan {
  readonly clients: number;
  readonly seconds: number;
  readonly warmup: number;
  readonly valueBytes: number;
  readonly keys: number;
  /** Client `index`'s connection, made once and kept for the whole run. */
  readonly connect: (index: number) => LoadConnection;
  /** The server processes whose CPU is measured over the window. */
  readonly pids: readonly number[];
}

export interface ErrorEntry {
  count: number;
  readonly example: string;
  /** When the first and the last answered, in seconds into the measured window. */
  readonly firstAtS: number;
  lastAtS: number;
}

export interface Tally {
  /** Latencies of measured successes, in nanoseconds. */
  readonly latenciesNs: number[];
  /** Measured errors by kind (`<kind> (<label>)`), with one example message each. */
  readonly errors: Map<string, ErrorEntry>;
  readonly warmupErrors: Map<string, ErrorEntry>;
  warmupRequests: number;
  /** Measured successes completed in each second of the window (stalls show as near-zero seconds). */
  readonly perSecond: number[];
  lastAnswerNs: bigint;
}

export interface LoadRun {
  readonly tally: Tally;
  readonly measureStartNs: bigint;
  readonly windowEndNs: bigint;
  /** This process's CPU over the window (user + system), in microseconds. */
  readonly generatorCpuMicros: number;
  /** Each of `pids`' CPU over the window, in seconds (null: /proc could not be read). */
  readonly serverCpuSeconds: readonly (number | null)[];
}

type Phase = 'warmup' | 'measure' | 'stop';

interface Clock {
  phase: Phase;
  measureStartNs: bigint;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function countError(errors: Map<string, ErrorEntry>, atS: number, kind: string, example: string): void {
  const entry = errors.get(kind);
  if (entry === undefined) errors.set(kind, { count: 1, example, firstAtS: atS, lastAtS: atS });
  else {
    entry.count++;
    entry.lastAtS = atS;
  }
}

/** Item `index` of `items`, round-robin (client i on server i mod n). */
export function roundRobin<T>(items: readonly T[], index: number): T {
  const item = items[index % items.length];
  if (item === undefined) throw new Error('roundRobin: no items');
  return item;
}

/** A rejected request's failure. */
export function rejectionFailure(error: unknown): Failure {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  return [typeof code === 'string' ? code : /^no answer\b.*\bwithin\b/.test(message) ? 'client timeout' : 'socket error', message];
}

/** The key of draw `draw` (0 ≤ draw < keys): `bench-` and the number, zero-padded to the width of `keys - 1`. */
export function benchKey(draw: number, keys: number): string {
  const width = String(keys - 1).length;
  return `bench-${String(draw).padStart(width, '0')}`.slice(0, KEY_LENGTH_MAX);
}

/** Client `index`'s value: `c<index>-` padded with `x` to exactly `valueBytes` bytes. */
export function benchValue(index: number, valueBytes: number): string {
  return `c${index}-`.padEnd(valueBytes, 'x').slice(0, valueBytes);
}

async function client(index: number, connection: LoadConnection, plan: LoadPlan, clock: Clock, tally: Tally): Promise<void> {
  const value = benchValue(index, plan.valueBytes);
  try {
    while (clock.phase !== 'stop') {
      const measured = clock.phase === 'measure';
      const key = benchKey(Math.floor(Math.random() * plan.keys), plan.keys);
      const started = process.hrtime.bigint();
      let failure: Failure | null;
      try {
        failure = await connection.call(key, value);
      } catch (error) {
        failure = rejectionFailure(error);
      }
      const finished = process.hrtime.bigint();
      const atS = Math.round(Number(finished - clock.measureStartNs) / 1e6) / 1000;
      if (!measured) {
        tally.warmupRequests++;
        if (failure !== null) countError(tally.warmupErrors, atS, ...failure);
      } else if (failure !== null) {
        countError(tally.errors, atS, `${failure[0]} (${connection.label})`, failure[1]);
      } else {
        tally.latenciesNs.push(Number(finished - started));
        const second = Math.max(0, Math.floor(Number(finished - clock.measureStartNs) / 1e9));
        tally.perSecond[second] = (tally.perSecond[second] ?? 0) + 1;
        if (finished > tally.lastAnswerNs) tally.lastAnswerNs = finished;
      }
      // A failing endpoint (refused connection) would otherwise spin this loop.
      if (failure !== null) await sleep(10);
    }
  } finally {
    connection.close();
  }
}

/** Runs the plan's clients through the warm-up and the measured window, and waits for their last answers. */
export async function runLoad(plan: LoadPlan): Promise<LoadRun> {
  const tally: Tally = { latenciesNs: [], errors: new Map(), warmupErrors: new Map(), warmupRequests: 0, perSecond: [], lastAnswerNs: 0n };
  const clock: Clock = { phase: plan.warmup > 0 ? 'warmup' : 'measure', measureStartNs: process.hrtime.bigint() };
  const clients = Array.from({ length: plan.clients }, (_, index) => client(index, plan.connect(index), plan, clock, tally));

  if (plan.warmup > 0) await sleep(plan.warmup * 1000);
  clock.measureStartNs = process.hrtime.bigint();
  const cpuStart = { generator: process.cpuUsage(), servers: plan.pids.map(cpuSeconds) };
  clock.phase = 'measure';
  await sleep(plan.seconds * 1000);
  const windowEndNs = process.hrtime.bigint();
  clock.phase = 'stop';
  const generator = process.cpuUsage(cpuStart.generator);
  const serversEnd = plan.pids.map(cpuSeconds);
  await Promise.all(clients);
  const serverCpuSeconds = serversEnd.map((end, i) => {
    const start = cpuStart.servers[i];
    return start == null || end === null ? null : end - start;
  });
  return { tally, measureStartNs: clock.measureStartNs, windowEndNs, generatorCpuMicros: generator.user + generator.system, serverCpuSeconds };
}

export interface LatencySummary {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export interface LoadSummary {
  readonly completed: number;
  readonly errors: number;
  readonly warmupErrors: number;
  /** From the window's start to the later of its end and the last measured answer. */
  readonly elapsedSeconds: number;
  /** Successful measured requests per second of `elapsedSeconds`, rounded. */
  readonly throughput: number;
  /** Milliseconds, two decimals. */
  readonly latencyMs: LatencySummary;
  /** Successes in each second of the window (as many entries as whole or partial seconds in it). */
  readonly perSecond: readonly number[];
}

/** The figures of a run of `seconds` measured seconds. */
export function summarize(run: LoadRun, seconds: number): LoadSummary {
  const { tally } = run;
  const endNs = tally.lastAnswerNs > run.windowEndNs ? tally.lastAnswerNs : run.windowEndNs;
  const elapsedSeconds = Number(endNs - run.measureStartNs) / 1e9;
  const sorted = Float64Array.from(tally.latenciesNs).sort();
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  const sum = (errors: Map<string, ErrorEntry>) => [...errors.values()].reduce((total, entry) => total + entry.count, 0);
  const windowSeconds = Math.max(1, Math.ceil(seconds));
  return {
    completed: sorted.length,
    errors: sum(tally.errors),
    warmupErrors: sum(tally.warmupErrors),
    elapsedSeconds: Math.round(elapsedSeconds * 1000) / 1000,
    throughput: Math.round(sorted.length / elapsedSeconds),
    latencyMs: {
      p50: ms(percentile(sorted, 0.5)),
      p90: ms(percentile(sorted, 0.9)),
      p99: ms(percentile(sorted, 0.99)),
      max: ms(sorted.length === 0 ? NaN : (sorted[sorted.length - 1] ?? NaN)),
      mean: ms(sorted.reduce((total, value) => total + value, 0) / Math.max(1, sorted.length)),
    },
    perSecond: Array.from({ length: windowSeconds }, (_, second) => tally.perSecond[second] ?? 0),
  };
}

/** Nearest-rank percentile of ascending `sorted` (NaN when empty). */
export function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? NaN;
}

/** A process's CPU time so far (user + system), in seconds, from Linux's /proc; null if it cannot be read. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command: state(0) ... utime(11) stime(12), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}
