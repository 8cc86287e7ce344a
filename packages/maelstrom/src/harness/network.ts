/**
 * A stand-in for Maelstrom's network, for the harness: it runs n `vsr-maelstrom` processes,
 * reads their stdout line by line and routes each message to its `dest` as Maelstrom does,
 * after a seeded delay, dropping messages between nodes that a partition separates (clients
 * are never cut off from their node, as in Maelstrom). It sends `init` to every node first.
 *
 * It also watches what the nodes say: a stdout line that is not a Maelstrom message is kept as
 * pollution (stdout must carry messages only), stderr lines are kept per node, and the primary
 * is learned from the protocol's own traffic (a Prepare or Commit comes from its view's primary).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Random } from '@vsr/simulator';
import { isRecord } from '../wire.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const ENTRY = fileURLToPath(new URL('../vsr-maelstrom.ts', import.meta.url));

export interface NetworkOptions {
  readonly nodeCount: number;
  readonly random: Random;
  /** Each message waits a uniform 0..delayMsMax ms. */
  readonly delayMsMax: number;
  /** Flags for every node. */
  readonly nodeArgs?: readonly string[];
  /** A message for a client (a `dest` that is not a node). */
  readonly onClientMessage: (dest: string, body: Record<string, unknown>) => void;
  /** How long init may take (a node's start includes compiling TypeScript). Default 30 s. */
  readonly initTimeoutMs?: number;
}

export interface NetworkStats {
  delivered: number;
  dropped: number;
}

export class MaelstromNetwork {
  readonly nodeIds: readonly string[];
  readonly stderr = new Map<string, string[]>();
  /** Lines a node wrote to stdout that are not Maelstrom messages. */
  readonly pollution: string[] = [];
  readonly stats: NetworkStats = { delivered: 0, dropped: 0 };
  private readonly children = new Map<string, ChildProcessWithoutNullStreams>();
  private readonly exits = new Map<string, Promise<number | null>>();
  /** Partition: node → its group; null when whole. */
  private groups: Map<string, number> | null = null;
  private primaryView: { viewNumber: number; nodeId: string } | null = null;
  private readonly initWaiters = new Map<string, () => void>();

  constructor(private readonly options: NetworkOptions) {
    this.nodeIds = Array.from({ length: options.nodeCount }, (_, index) => `n${index + 1}`);
  }

  /** The node the latest view's primary runs on, as its traffic shows; null before any. */
  get primary(): string | null {
    return this.primaryView?.nodeId ?? null;
  }

  /** Starts every node and initialises it; resolves once all answered `init_ok`. */
  async start(): Promise<void> {
    for (const nodeId of this.nodeIds) this.spawnNode(nodeId);
    const timeoutMs = this.options.initTimeoutMs ?? 30_000;
    await Promise.all(this.nodeIds.map((nodeId, index) => this.init(nodeId, index + 1, timeoutMs)));
  }

  /** A client's message to a node, after the network's delay (never cut). */
  sendFromClient(src: string, dest: string, body: Record<string, unknown>): void {
    this.later(() => this.write(dest, JSON.stringify({ src, dest, body })));
  }

  /** Writes a raw line to a node's stdin at once (for malformed input). */
  sendRaw(dest: string, line: string): void {
    this.write(dest, line);
  }

  /** Cuts the nodes into `groups`: messages between groups are dropped until `heal`. Nodes not listed form one more group. */
  partition(groups: readonly (readonly string[])[]): void {
    const map = new Map<string, number>();
    groups.forEach((group, index) => group.forEach((nodeId) => map.set(nodeId, index)));
    for (const nodeId of this.nodeIds) if (!map.has(nodeId)) map.set(nodeId, groups.length);
    this.groups = map;
  }

  heal(): void {
    this.groups = null;
  }

  /** Whether the node's process is still running. */
  isAlive(nodeId: string): boolean {
    const child = this.children.get(nodeId);
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Closes every node's stdin (a node ends then) and waits for the processes; kills one that lingers. */
  async stop(): Promise<void> {
    for (const child of this.children.values()) child.stdin.end();
    await Promise.all(
      [...this.children].map(async ([nodeId, child]) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await this.exits.get(nodeId);
        clearTimeout(timer);
      }),
    );
  }

  private spawnNode(nodeId: string): void {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...(this.options.nodeArgs ?? [])], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.set(nodeId, child);
    this.exits.set(nodeId, new Promise((resolve) => child.once('exit', (code) => resolve(code))));
    child.stdin.on('error', () => {}); // A node that ended: what was on its way to it is lost, as on a network.
    const lines: string[] = [];
    this.stderr.set(nodeId, lines);
    createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => lines.push(line));
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => this.route(nodeId, line));
  }

  private init(nodeId: string, msgId: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${nodeId} did not answer init within ${timeoutMs} ms; its stderr: ${(this.stderr.get(nodeId) ?? []).join(' | ')}`)), timeoutMs);
      this.initWaiters.set(nodeId, () => {
        clearTimeout(timer);
        resolve();
      });
      this.write(nodeId, JSON.stringify({ src: 'c0', dest: nodeId, body: { type: 'init', msg_id: msgId, node_id: nodeId, node_ids: this.nodeIds } }));
    });
  }

  /** One stdout line of `from`: checked, then delivered after a delay (or dropped by a partition). */
  private route(from: string, line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      message = undefined;
    }
    if (!isRecord(message) || message.src !== from || typeof message.dest !== 'string' || !isRecord(message.body)) {
      this.pollution.push(`${from}: ${line.slice(0, 200)}`);
      return;
    }
    const { dest, body } = message;
    if (dest === 'c0' && body.type === 'init_ok') return this.initWaiters.get(from)?.();
    if (!this.nodeIds.includes(dest)) return this.later(() => this.options.onClientMessage(dest, body));
    this.notePrimary(from, body);
    this.later(() => {
      if (this.groups !== null && this.groups.get(from) !== this.groups.get(dest)) {
        this.stats.dropped++;
        return;
      }
      this.stats.delivered++;
      this.write(dest, line);
    });
  }

  private notePrimary(from: string, body: Record<string, unknown>): void {
    const message = body.msg;
    if (body.type !== 'vsr' || !isRecord(message) || (message.type !== 'commit' && message.type !== 'prepare')) return;
    const viewNumber = message.viewNumber;
    if (typeof viewNumber !== 'number') return;
    if (this.primaryView === null || viewNumber >= this.primaryView.viewNumber) this.primaryView = { viewNumber, nodeId: from };
  }

  private later(deliver: () => void): void {
    const delayMs = this.options.random.int(0, this.options.delayMsMax);
    setTimeout(deliver, delayMs);
  }

  private write(nodeId: string, line: string): void {
    const child = this.children.get(nodeId);
    if (child === undefined || !child.stdin.writable) return;
    child.stdin.write(`${line}\n`);
  }
}
