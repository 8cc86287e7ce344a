/**
 * The pure parts of `npm run bench:etcd` (etcd.ts): its flags, etcd's PUT
 * over the HTTP/JSON gateway (the request body, and which answers count as a
 * success), the gateway's path for an etcd version, and the ratios and the
 * table it prints. Nothing here starts a process or opens a socket.
 */
import { parseArgs } from 'node:util';
import { UsageError, integerFlag } from '@vsr/core/cli-flags';
import { VALUE_LENGTH_MAX } from '@vsr/kv';
import type { Failure, LatencySummary } from './generator.js';

export const DEFAULT_PORT = 7600;
/** The highest port above --port that a run uses (vsr-kv's HTTP on P+120..P+122). */
export const PORT_SPAN = 122;

export const USAGE = `usage: npm run bench:etcd -- [options]

Compares vsr-kv with etcd on this machine: a three-member etcd cluster and a
three-replica vsr-kv cluster, on 127.0.0.1, one after the other (never both at
once), each driven by the same closed-loop load generator as bench:kv: 100-byte
PUTs on keys drawn from 1,000, one keep-alive connection and one request at a
time per client, clients round-robin over the three members. Each measurement
starts a fresh cluster in a fresh temporary directory and deletes it after.
etcd is installed from Debian (apt-get install -y etcd-server) if missing.

  --clients N,N,...      client counts to measure (default 1,16,64)
  --seconds S            measured seconds per measurement (default 10)
  --warmup S             warm-up seconds before each, not counted (default 1)
  --rounds N             rounds; each measures etcd and vsr-kv at every client
                         count, the pair one right after the other, the order
                         alternating by round (default 1)
  --value-bytes B        bytes in each PUT value (default 100, at most ${VALUE_LENGTH_MAX})
  --keys K               distinct keys, drawn uniformly (default 1000)
  --port P               port base (default ${DEFAULT_PORT}; etcd clients P..P+2, etcd peers
                         P+10..P+12, vsr-kv peers P+20..P+22, vsr-kv HTTP P+120..P+122)
  --security off|on      off: plain HTTP, no authentication, for both: etcd with
                         http:// client and peer URLs, vsr-kv with --no-tls
                         --no-token (default);
                         on: etcd with TLS on client and peer URLs (mutual TLS
                         between members) from the project's PKI helper, vsr-kv
                         with its defaults (mutual TLS between replicas, HTTPS,
                         bearer token)
  --protocol http|vsr    http: both through HTTP, etcd's JSON gateway and vsr-kv's
                         API (default); vsr: both through their own client
                         protocols, etcd over gRPC (the etcd3 library, one shared
                         client per member) and vsr-kv with VsrClients on one
                         shared ClusterLink over TCP
  --start-timeout-ms T   how long a cluster may take to become healthy (default 30000)
  --request-timeout-ms T client-side limit on one request (default 30000)
  --json                 print one JSON line instead of the table
  --help                 this text

Exit status: 0, or 1 if any measured request failed or a cluster did not start, 2 for bad flags.
`;

export type Security = 'off' | 'on';
export type System = 'etcd' | 'vsr-kv';

export interface EtcdBenchOptions {
  readonly clients: readonly number[];
  readonly seconds: number;
  readonly warmup: number;
  readonly rounds: number;
  readonly valueBytes: number;
  readonly keys: number;
  readonly port: number;
  readonly security: Security;
  readonly protocol: 'http' | 'vsr';
  readonly startTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly json: boolean;
}

function secondsFlag(text: string | undefined, flag: string, min: number, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < min || value > 3600) {
    throw new UsageError(`${flag}: expected a number of seconds from ${min} to 3600, got ${JSON.stringify(text)}`);
  }
  return value;
}

function clientsFlag(text: string | undefined): number[] {
  if (text === undefined) return [1, 16, 64];
  const parts = text.split(',').map((part) => part.trim());
  if (parts.some((part) => part === '')) throw new UsageError(`--clients: expected client counts separated by commas, like 1,16,64, got ${JSON.stringify(text)}`);
  const counts = parts.map((part) => integerFlag(part, '--clients', { min: 1, max: 10_000 }));
  const repeated = counts.find((count, i) => counts.indexOf(count) !== i);
  if (repeated !== undefined) throw new UsageError(`--clients: ${repeated} appears twice`);
  return counts;
}

const FLAGS = {
  clients: { type: 'string' },
  seconds: { type: 'string' },
  warmup: { type: 'string' },
  rounds: { type: 'string' },
  'value-bytes': { type: 'string' },
  keys: { type: 'string' },
  port: { type: 'string' },
  security: { type: 'string' },
  protocol: { type: 'string' },
  'start-timeout-ms': { type: 'string' },
  'request-timeout-ms': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** The options of `argv`, or null for --help; throws a UsageError naming the flag for anything it cannot take. */
export function parseEtcdBenchOptions(argv: readonly string[]): EtcdBenchOptions | null {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], strict: true, allowPositionals: true, options: FLAGS });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) return null;
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])} (flags start with --)`);
  const security = values.security ?? 'off';
  if (security !== 'on' && security !== 'off') throw new UsageError(`--security: expected off or on, got ${JSON.stringify(security)}`);
  const protocol = values.protocol ?? 'http';
  if (protocol !== 'http' && protocol !== 'vsr') throw new UsageError(`--protocol: expected http or vsr, got ${JSON.stringify(protocol)}`);
  return {
    protocol,
    clients: clientsFlag(values.clients),
    seconds: secondsFlag(values.seconds, '--seconds', 0.1, 10),
    warmup: secondsFlag(values.warmup, '--warmup', 0, 1),
    rounds: integerFlag(values.rounds, '--rounds', { min: 1, max: 100, fallback: 1 }),
    valueBytes: integerFlag(values['value-bytes'], '--value-bytes', { min: 0, max: VALUE_LENGTH_MAX, fallback: 100 }),
    keys: integerFlag(values.keys, '--keys', { min: 1, max: 1_000_000_000, fallback: 1000 }),
    port: integerFlag(values.port, '--port', { min: 1024, max: 65_535 - PORT_SPAN, fallback: DEFAULT_PORT }),
    security,
    startTimeoutMs: integerFlag(values['start-timeout-ms'], '--start-timeout-ms', { min: 1, max: 3_600_000, fallback: 30_000 }),
    requestTimeoutMs: integerFlag(values['request-timeout-ms'], '--request-timeout-ms', { min: 1, max: 3_600_000, fallback: 30_000 }),
    json: values.json,
  };
}

// ---------------------------------------------------------------------------
// etcd's HTTP/JSON gateway

/** The version in `etcd --version`'s output ("etcd Version: 3.4.23" …), or null. */
export function parseEtcdVersion(output: string): string | null {
  return /^etcd Version:\s*(\d+\.\d+\.\d+\S*)/m.exec(output)?.[1] ?? null;
}

/**
 * The gateway's path prefix for an etcd version: /v3alpha up to 3.2, /v3beta in 3.3, /v3 from 3.4 (which
 * still serves /v3beta too; 3.5 does not).
 */
export function gatewayPrefix(version: string): '/v3alpha' | '/v3beta' | '/v3' {
  const match = /^(\d+)\.(\d+)\./.exec(version);
  if (match === null) throw new Error(`not an etcd version: ${JSON.stringify(version)}`);
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (major !== 3) throw new Error(`etcd ${version}: this benchmark knows the v3 gateway of etcd 3.x only`);
  return minor <= 2 ? '/v3alpha' : minor === 3 ? '/v3beta' : '/v3';
}

/** The body of `POST <prefix>/kv/put`: the key and the value in base64, as the gateway's JSON mapping of bytes wants. */
export function etcdPutBody(key: string, value: string): string {
  return JSON.stringify({ key: Buffer.from(key, 'utf8').toString('base64'), value: Buffer.from(value, 'utf8').toString('base64') });
}

/**
 * A PUT's answer: null for a success, which is HTTP 200 with a JSON object whose `header` is an object
 * (the PutResponse's ResponseHeader); else its failure, the kind naming the status and the gateway's error.
 */
export function classifyEtcdPut(answer: { readonly code: number; readonly body: string }): Failure | null {
  let body: unknown = undefined;
  try {
    body = JSON.parse(answer.body);
  } catch {
    // Not JSON: a failure, whatever the status.
  }
  const object = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
  if (answer.code === 200) {
    const header = object?.['header'];
    if (header !== null && typeof header === 'object' && !Array.isArray(header)) return null;
    return ['HTTP 200 without a "header"', answer.body.trim().slice(0, 300)];
  }
  const error = object?.['error'] ?? object?.['message'];
  return [`HTTP ${answer.code}${typeof error === 'string' ? ` ${error}` : ''}`, answer.body.trim().slice(0, 300)];
}

// ---------------------------------------------------------------------------
// Figures and ratios

/** One system's figures at one client count in one round. */
export interface Measurement {
  readonly system: System;
  readonly clients: number;
  readonly round: number;
  readonly completed: number;
  readonly errors: number;
  readonly throughput: number;
  readonly latencyMs: LatencySummary;
  /** The three servers' CPU over the window divided by the successful writes, in µs; null if unknown or no write succeeded. */
  readonly serverCpuPerWriteMicros: number | null;
}

/** The servers' CPU per successful write, in µs (rounded); null when a process's CPU is unknown or nothing succeeded. */
export function cpuPerWriteMicros(serverCpuSeconds: readonly (number | null)[], completed: number): number | null {
  if (completed <= 0 || serverCpuSeconds.length === 0 || serverCpuSeconds.some((seconds) => seconds === null)) return null;
  const total = serverCpuSeconds.reduce<number>((sum, seconds) => sum + (seconds ?? 0), 0);
  return Math.round((total / completed) * 1e6);
}

export interface Ratios {
  /** vsr-kv's requests/s over etcd's: above 1, vsr-kv is faster. */
  readonly throughput: number | null;
  /** vsr-kv's p99 over etcd's: above 1, vsr-kv's tail is slower. */
  readonly p99: number | null;
  /** vsr-kv's server CPU per write over etcd's: above 1, vsr-kv spends more. */
  readonly cpuPerWrite: number | null;
}

/** `a / b` to two decimals; null when either is missing, not finite, or b is not positive. */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return null;
  return Math.round((a / b) * 100) / 100;
}

export function ratiosOf(vsr: Measurement, etcd: Measurement): Ratios {
  return {
    throughput: ratio(vsr.throughput, etcd.throughput),
    p99: ratio(vsr.latencyMs.p99, etcd.latencyMs.p99),
    cpuPerWrite: ratio(vsr.serverCpuPerWriteMicros, etcd.serverCpuPerWriteMicros),
  };
}

const mean = (values: readonly (number | null)[]): number | null => {
  const known = values.filter((value): value is number => value !== null && Number.isFinite(value));
  return known.length === 0 || known.length < values.length ? null : known.reduce((sum, value) => sum + value, 0) / known.length;
};

export interface ClientRatios {
  readonly clients: number;
  /** Round by round: each pair measured one right after the other. */
  readonly byRound: readonly Ratios[];
  /** The ratio of the two systems' means over the rounds. */
  readonly overall: Ratios;
}

/** The ratios at each client count: per round, and of the means over the rounds. */
export function comparisons(measurements: readonly Measurement[], clientCounts: readonly number[]): ClientRatios[] {
  return clientCounts.map((clients) => {
    const of = (system: System) => measurements.filter((m) => m.system === system && m.clients === clients).sort((a, b) => a.round - b.round);
    const [vsr, etcd] = [of('vsr-kv'), of('etcd')];
    const byRound = vsr.flatMap((v) => {
      const e = etcd.find((m) => m.round === v.round);
      return e === undefined ? [] : [ratiosOf(v, e)];
    });
    const meanOf = (list: readonly Measurement[], pick: (m: Measurement) => number | null) => mean(list.map(pick));
    const overall: Ratios = {
      throughput: ratio(meanOf(vsr, (m) => m.throughput), meanOf(etcd, (m) => m.throughput)),
      p99: ratio(meanOf(vsr, (m) => m.latencyMs.p99), meanOf(etcd, (m) => m.latencyMs.p99)),
      cpuPerWrite: ratio(meanOf(vsr, (m) => m.serverCpuPerWriteMicros), meanOf(etcd, (m) => m.serverCpuPerWriteMicros)),
    };
    return { clients, byRound, overall };
  });
}

// ---------------------------------------------------------------------------
// The table

const number = (n: number | null, digits = 0) => (n === null || !Number.isFinite(n) ? '?' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((cell, i) => (i < 3 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ').trimEnd();
}

/** The measurements as a text table, system by system within each client count and round. */
export function measurementTable(measurements: readonly Measurement[]): string[] {
  const widths = [7, 7, 5, 10, 8, 8, 19, 6];
  const sorted = [...measurements].sort((a, b) => a.clients - b.clients || a.round - b.round || a.system.localeCompare(b.system));
  return [
    row(['system', 'clients', 'round', 'requests/s', 'p50 ms', 'p99 ms', 'server CPU/write µs', 'errors'], widths),
    ...sorted.map((m) =>
      row([m.system, String(m.clients), String(m.round), number(m.throughput), number(m.latencyMs.p50, 2), number(m.latencyMs.p99, 2), number(m.serverCpuPerWriteMicros), number(m.errors)], widths),
    ),
  ];
}

/** The ratios as a text table: per round (r1 / r2 …) and overall. */
export function ratioTable(ratios: readonly ClientRatios[]): string[] {
  const cell = (pick: (r: Ratios) => number | null, c: ClientRatios) =>
    `${number(pick(c.overall), 2)}${c.byRound.length > 1 ? ` (${c.byRound.map((r) => number(pick(r), 2)).join(' / ')})` : ''}`;
  const widths = [7, 0, 0, 0];
  const lines = ratios.map((c) => [String(c.clients), cell((r) => r.throughput, c), cell((r) => r.p99, c), cell((r) => r.cpuPerWrite, c)]);
  const header = ['clients', 'throughput', 'p99', 'CPU per write'];
  for (const line of [header, ...lines]) line.forEach((text, i) => (widths[i] = Math.max(widths[i] ?? 0, text.length)));
  const format = (cells: readonly string[]) => cells.map((text, i) => (i === 0 ? text.padEnd(widths[i] ?? 0) : text.padStart(widths[i] ?? 0))).join('  ');
  return [format(header), ...lines.map(format)];
}
