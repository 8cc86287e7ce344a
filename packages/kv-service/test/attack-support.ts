/**
 * Helpers for attacks.test.ts: raw connections to a replica's peer port (TLS
 * or plain TCP, as the cluster runs), the client protocol spoken by hand, raw
 * HTTP(S) requests with byte bodies, a replica's memory and disk use, and its
 * log lines parsed.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tcpConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { checkServerIdentity, connect as tlsConnect } from 'node:tls';
import { encodeFrame, readFrames } from '@vsr/node';
import { CLI_PATH, clusterSecurity, nodeArgs } from '../src/index.js';
import { jsonBody, status, waitFor, type Status, type TestCluster } from './support.js';

export function hostPort(address: string): { host: string; port: number } {
  const [host, port] = address.split(':');
  return { host: host!, port: Number(port) };
}

/** The cluster CA's PEM, when the cluster runs TLS. */
export function caOf(cluster: TestCluster): string | undefined {
  return clusterSecurity(cluster.directory).ca;
}

/** A connection to `address`: TLS checked against `ca` when given (no client certificate), else plain TCP. */
export function dial(address: string, ca: string | undefined): Socket {
  const { host, port } = hostPort(address);
  const socket = ca === undefined ? tcpConnect(port, host) : tlsConnect({ host, port, ca });
  socket.on('error', () => {});
  return socket;
}

export interface RawConnection {
  readonly socket: Socket;
  /** The listener's hello. */
  readonly hello: { type: string; replica: number; nonce: string };
  /** Every frame received, hello first. */
  readonly frames: unknown[];
  readonly closed: Promise<void>;
  isClosed(): boolean;
  send(payload: unknown): void;
  /** Resolves with the first frame received (now or later) that `accept` takes; rejects after `timeoutMs`. */
  frame(accept: (frame: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Opens a connection to replica `replicaId`'s peer port and resolves once its hello arrived. */
export function openPeer(cluster: TestCluster, replicaId: number, timeoutMs = 5_000): Promise<RawConnection> {
  const socket = dial(cluster.replicas[replicaId]!.peer, caOf(cluster));
  let isClosed = false;
  const closed = new Promise<void>((resolve) => socket.once('close', () => {
    isClosed = true;
    resolve();
  }));
  const frames: unknown[] = [];
  const waiters: Array<() => void> = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no hello from replica ${replicaId} within ${timeoutMs} ms`));
    }, timeoutMs);
    void closed.then(() => {
      clearTimeout(timer);
      reject(new Error(`replica ${replicaId} closed the connection before its hello`));
    });
    readFrames(socket, 64 << 20, () => socket.destroy(), (frame) => {
      frames.push(frame);
      for (const wake of waiters.splice(0)) wake();
      if (frames.length !== 1) return;
      clearTimeout(timer);
      resolve({
        socket,
        hello: frame as RawConnection['hello'],
        frames,
        closed,
        isClosed: () => isClosed,
        send: (payload) => socket.write(encodeFrame(payload)),
        frame: (accept, waitMs = 10_000) =>
          new Promise((found, fail) => {
            const look = () => {
              const hit = frames.find((f) => f !== null && typeof f === 'object' && accept(f as Record<string, unknown>));
              if (hit !== undefined) {
                clearTimeout(give);
                found(hit as Record<string, unknown>);
                return true;
              }
              return false;
            };
            const give = setTimeout(() => fail(new Error(`no matching frame from replica ${replicaId} within ${waitMs} ms`)), waitMs);
            if (look()) return;
            const again = () => {
              if (!look()) waiters.push(again);
            };
            waiters.push(again);
          }),
      });
    });
  });
}

/** A client connection (hello answered with `{type: 'client', token}`); `token` undefined sends none. */
export async function clientConnection(cluster: TestCluster, replicaId: number, token: string | undefined): Promise<RawConnection> {
  const connection = await openPeer(cluster, replicaId);
  connection.send(token === undefined ? { type: 'client' } : { type: 'client', token });
  return connection;
}

/** The reply frame for `clientId`'s request on a client connection. */
export async function replyFor(connection: RawConnection, clientId: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const frame = await connection.frame((f) => f['type'] === 'reply' && (f['reply'] as { clientId?: unknown } | undefined)?.clientId === clientId, timeoutMs);
  return frame['reply'] as Record<string, unknown>;
}

/** A replica's resident memory in MB (VmRSS in /proc/<pid>/status). */
export function rssMb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) / 1024;
}

/** Bytes of every file under `directory`. */
export function treeBytes(directory: string): number {
  let total = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    total += entry.isDirectory() ? treeBytes(path) : statSync(path).size;
  }
  return total;
}

/** Every path under `directory` (itself excluded), with its mode bits and kind. */
export function treeModes(directory: string): Array<{ path: string; mode: number; directory: boolean }> {
  const found: Array<{ path: string; mode: number; directory: boolean }> = [];
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    found.push({ path, mode: statSync(path).mode & 0o777, directory: entry.isDirectory() });
    if (entry.isDirectory()) found.push(...treeModes(path));
  }
  return found;
}

export interface LogLine {
  readonly raw: string;
  /** The JSON fields, or null for a line that is not JSON. */
  readonly json: Record<string, unknown> | null;
}

/** Replica `replicaId`'s lines from index `since` of `cluster.lines` on. */
export function linesOf(cluster: TestCluster, replicaId: number, since = 0): LogLine[] {
  const prefix = `[replica ${replicaId}] `;
  const lines: LogLine[] = [];
  for (const line of cluster.lines.slice(since)) {
    if (!line.startsWith(prefix)) continue;
    const raw = line.slice(prefix.length);
    let json: Record<string, unknown> | null = null;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
    } catch {
      json = null;
    }
    lines.push({ raw, json });
  }
  return lines;
}

/** Refusal lines: pino lines whose message starts `refused:`. */
export function refusalLines(cluster: TestCluster, replicaId: number, since = 0): Array<Record<string, unknown>> {
  return linesOf(cluster, replicaId, since)
    .map((line) => line.json)
    .filter((json): json is Record<string, unknown> => json !== null && typeof json['msg'] === 'string' && json['msg'].startsWith('refused:'));
}

/** Waits for replica `replicaId` to log a line (from index `since`) whose message matches `pattern`; returns it. */
export function logged(cluster: TestCluster, replicaId: number, since: number, pattern: RegExp, timeoutMs = 8_000): Promise<Record<string, unknown>> {
  return waitFor(
    `replica ${replicaId} to log ${pattern}`,
    () => linesOf(cluster, replicaId, since).find((line) => line.json !== null && pattern.test(String(line.json['msg'])))?.json ?? undefined,
    timeoutMs,
  );
}

/** The statuses of the live replicas. */
export async function statuses(cluster: TestCluster): Promise<Status[]> {
  const live = cluster.replicas.map((_, id) => id).filter((id) => cluster.alive(id));
  return Promise.all(live.map((id) => status(cluster.url(id))));
}

export interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
}

/** One HTTP(S) request with a byte body and the cluster's CA; the token unless `anonymous`. */
export function rawHttp(cluster: TestCluster, replicaId: number, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}, anonymous = false): Promise<RawAnswer> {
  const target = new URL(`${cluster.url(replicaId)}${path}`);
  const ca = caOf(cluster);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const allHeaders: Record<string, string> = {
    ...(anonymous || cluster.token === undefined ? {} : { authorization: `Bearer ${cluster.token}` }),
    ...(body === undefined ? {} : { 'content-length': String(body.length) }),
    ...headers,
  };
  return new Promise((resolve, reject) => {
    // The certificate is checked against the address dialled, whatever Host header the request sends.
    const tls = ca === undefined ? {} : { ca, checkServerIdentity: (_host: string, cert: Parameters<typeof checkServerIdentity>[1]) => checkServerIdentity(target.hostname, cert) };
    const request = send(target, { method, headers: allHeaders, agent: false, ...tls }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: jsonBody(Buffer.concat(chunks).toString('utf8')) });
      });
      response.on('error', reject);
    });
    request.setTimeout(10_000, () => request.destroy(new Error(`no answer to ${method} ${target.href} in 10 s`)));
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * Sends a request's headers, then its body one byte a second; resolves when the
 * server closes the connection, with what it answered and when.
 */
export function dribbledRequest(cluster: TestCluster, replicaId: number, path: string, bodyBytes: number): Promise<{ elapsedMs: number; answer: string; bytesSent: number }> {
  const address = cluster.replicas[replicaId]!.http;
  const socket = dial(address, caOf(cluster));
  const started = Date.now();
  let answer = '';
  let bytesSent = 0;
  let timer: NodeJS.Timeout | null = null;
  socket.on(caOf(cluster) === undefined ? 'connect' : 'secureConnect', () => {
    socket.write(
      `PUT ${path} HTTP/1.1\r\nHost: ${address}\r\nContent-Type: text/plain\r\nContent-Length: ${bodyBytes}\r\n` +
        `${cluster.token === undefined ? '' : `Authorization: Bearer ${cluster.token}\r\n`}\r\n`,
    );
    timer = setInterval(() => {
      if (bytesSent < bodyBytes && !socket.destroyed) {
        socket.write('x');
        bytesSent++;
      }
    }, 1_000);
  });
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
  return new Promise((resolve) =>
    socket.once('close', () => {
      if (timer !== null) clearInterval(timer);
      resolve({ elapsedMs: Date.now() - started, answer, bytesSent });
    }),
  );
}

/** Runs the vsr-kv command line without blocking this process (the replicas' log pipes must keep draining). */
export function runCli(args: readonly string[], timeoutMs = 20_000): Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs(CLI_PATH), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code, signal, stdout, stderr });
    });
  });
}

/** Text of GET /metrics from replica `replicaId`. */
export async function metricsOf(cluster: TestCluster, replicaId: number): Promise<string> {
  return (await cluster.client.request('GET', `${cluster.url(replicaId)}/metrics`)).text;
}

/** `vsr_refused_inputs{reason="…"}` in a metrics text (0 if absent). */
export function refusedCount(metrics: string, reason: string): number {
  const match = new RegExp(`^vsr_refused_inputs\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(metrics);
  return match === null ? 0 : Number(match[1]);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface IdleFlood {
  /** Connections that connected, with when they closed (a promise) and how long they lived once closed. */
  readonly connections: ReadonlyArray<{ readonly socket: Socket; readonly openedAt: number; closedAtMs: number | null }>;
  readonly floodMs: number;
  open(): number;
  /** Waits until every connection is closed or `deadline` (Date.now()) passes; resolves with those still open. */
  settled(deadline: number): Promise<number>;
  destroy(): void;
}

/**
 * Opens `count` raw TCP connections to `address` (in waves of 100) that never send a byte. They read (and drop)
 * what they are sent, so that a close by the server is seen here; a connection that never reads would not see it.
 */
export async function idleFlood(address: string, count: number): Promise<IdleFlood> {
  const { host, port } = hostPort(address);
  const connections: Array<{ socket: Socket; openedAt: number; closedAtMs: number | null }> = [];
  const all: Socket[] = [];
  let wake: (() => void) | null = null;
  const openOne = () =>
    new Promise<void>((resolve) => {
      const socket = tcpConnect(port, host);
      all.push(socket);
      socket.on('error', () => {});
      socket.resume();
      socket.once('connect', () => {
        const entry = { socket, openedAt: Date.now(), closedAtMs: null as number | null };
        connections.push(entry);
        socket.once('close', () => {
          entry.closedAtMs = Date.now();
          wake?.();
        });
        resolve();
      });
      socket.once('close', () => resolve());
    });
  const started = Date.now();
  for (let opened = 0; opened < count; opened += 100) await Promise.all(Array.from({ length: Math.min(100, count - opened) }, openOne));
  const floodMs = Date.now() - started;
  const open = () => connections.filter((entry) => entry.closedAtMs === null).length;
  return {
    connections,
    floodMs,
    open,
    settled: (deadline) =>
      new Promise((resolve) => {
        const check = () => {
          if (open() === 0 || Date.now() >= deadline) {
            wake = null;
            clearTimeout(timer);
            resolve(open());
          }
        };
        const timer = setTimeout(check, Math.max(0, deadline - Date.now()));
        wake = check;
        check();
      }),
    destroy: () => {
      for (const socket of all) socket.destroy();
    },
  };
}

/** How many sockets process `pid` holds open (its fds that are sockets). */
export function socketCount(pid: number): number {
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // Closed while we looked.
    }
  }
  return sockets;
}

/** Calls `probe` every `everyMs` until stopped; `stop` resolves with the highest value seen. */
export function sampleMax(probe: () => number, everyMs = 50): { stop(): number; max(): number } {
  let max = probe();
  const timer = setInterval(() => {
    try {
      max = Math.max(max, probe());
    } catch {
      // The process is gone: its last value stands.
    }
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return max;
    },
    max: () => max,
  };
}
