/**
 * The page's side of replicas in Web Workers: `spawnWorkerReplica` starts
 * one replica in a worker (its configuration and MessagePorts go in a
 * `start` command), and `WorkerCluster` runs a whole cluster in workers of
 * one page: it builds the MessageChannel mesh between them and a port per
 * client and replica, and crashes (worker.terminate(), the store survives),
 * restarts (a new worker on the same store, re-wired to its peers and
 * clients), wipes (its database deleted: it recovers from its peers) and
 * partitions replicas. Events from workers are decoded with the protocol's
 * codecs before the page sees them.
 */
import { isLeft } from 'fp-ts/lib/Either.js';
import { decodeWith } from '@vsr/core';
import { BrowserVsrClient, PortClientLink, type BrowserVsrClientOptions } from './client.js';
import type { BrowserReplicaStatus } from './replica.js';
import { deleteReplicaDatabase } from './storage.js';
import { WorkerEvent, type StartCommand, type WorkerCommand } from './worker-protocol.js';

/** What the host needs of a worker: a `Worker`, or `inProcessWorker` (in-process-worker.ts). */
export interface WorkerLike {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  terminate(): void;
}

export type StartedEvent = Extract<WorkerEvent, { type: 'started' }>;

export interface WorkerReplicaOptions {
  readonly replicaId: number;
  readonly replicaCount: number;
  readonly cluster: number;
  /** Format a new store if there is none: only when the cluster is formed. */
  readonly create: boolean;
  /** The machine's name in the worker bundle (default 'kv'). */
  readonly machine?: string;
  /** More core configuration: `{ timeouts, limits }`. */
  readonly config?: unknown;
  readonly namePrefix?: string;
  readonly trace?: boolean;
  readonly transport:
    | { readonly kind: 'message-channel'; readonly peerPorts: ReadonlyArray<readonly [number, MessagePort]>; readonly clientPorts: readonly MessagePort[] }
    | { readonly kind: 'broadcast-channel'; readonly channelName?: string };
}

export interface WorkerReplica {
  readonly replicaId: number;
  /** Resolves once the worker's store is open and its replica runs; rejects if it could not start. */
  readonly started: Promise<StartedEvent>;
  /** The last status the worker posted (null before the first). */
  status(): BrowserReplicaStatus | null;
  connectPeer(peerId: number, port: MessagePort): void;
  addClientPort(port: MessagePort): void;
  blockPeers(peerIds: readonly number[]): void;
  /** worker.terminate(): a crash. Its IndexedDB store survives. */
  crash(): void;
  /** Flushes, sends what waited, then terminates the worker. */
  close(): Promise<void>;
}

export function spawnWorkerReplica(worker: WorkerLike, options: WorkerReplicaOptions, onEvent: (event: WorkerEvent) => void = () => {}): WorkerReplica {
  let last: BrowserReplicaStatus | null = null;
  let terminated = false;
  let onClosed: (() => void) | null = null;
  let settleStart: { resolve: (event: StartedEvent) => void; reject: (error: Error) => void } | null = null;
  const started = new Promise<StartedEvent>((resolve, reject) => (settleStart = { resolve, reject }));
  worker.addEventListener('message', (message: MessageEvent) => {
    const decoded = decodeWith(WorkerEvent, message.data, 'event');
    if (isLeft(decoded)) return onEvent({ type: 'refused', reason: 'bad-worker-event', detail: `an event from worker ${options.replicaId} that does not decode (${decoded.left})`, count: 1 });
    const event = decoded.right;
    if (event.type === 'status') last = event.status;
    if (event.type === 'started') settleStart?.resolve(event);
    if (event.type === 'fatal') settleStart?.reject(new Error(event.message));
    if (event.type === 'closed') onClosed?.();
    onEvent(event);
  });
  const command = (message: WorkerCommand, transfer: Transferable[] = []) => {
    if (!terminated) worker.postMessage(message, transfer);
  };
  const transport = options.transport;
  const peerPorts = transport.kind === 'message-channel' ? transport.peerPorts.map(([peerId, port]) => ({ peerId, port })) : [];
  const clientPorts = transport.kind === 'message-channel' ? [...transport.clientPorts] : [];
  const start: StartCommand = {
    type: 'start',
    replicaId: options.replicaId,
    replicaCount: options.replicaCount,
    cluster: options.cluster,
    create: options.create,
    machine: options.machine ?? 'kv',
    transport: transport.kind === 'message-channel' ? { kind: 'message-channel' } : { kind: 'broadcast-channel', ...(transport.channelName === undefined ? {} : { channelName: transport.channelName }) },
    peerPorts,
    clientPorts,
    ...(options.config === undefined ? {} : { config: options.config }),
    ...(options.namePrefix === undefined ? {} : { namePrefix: options.namePrefix }),
    ...(options.trace === undefined ? {} : { trace: options.trace }),
  };
  command(start, [...peerPorts.map(({ port }) => port), ...clientPorts]);
  const terminate = () => {
    terminated = true;
    worker.terminate();
    settleStart?.reject(new Error(`replica ${options.replicaId}: the worker was terminated before it started`));
  };
  return {
    replicaId: options.replicaId,
    started,
    status: () => last,
    connectPeer: (peerId, port) => command({ type: 'connect-peer', peerId, port }, [port]),
    addClientPort: (port) => command({ type: 'add-client-port', port }, [port]),
    blockPeers: (peerIds) => command({ type: 'block-peers', peerIds: [...peerIds] }),
    crash: terminate,
    close: async () => {
      if (terminated) return;
      await new Promise<void>((resolve) => {
        onClosed = resolve;
        command({ type: 'close' });
      });
      terminate();
    },
  };
}

export interface WorkerClusterOptions {
  readonly replicaCount: number;
  /** The cluster id (default 0): part of each replica's database name. */
  readonly cluster?: number;
  readonly createWorker: (replicaId: number) => WorkerLike;
  readonly machine?: string;
  readonly config?: unknown;
  readonly namePrefix?: string;
  readonly trace?: boolean;
  readonly onEvent?: (replicaId: number, event: WorkerEvent) => void;
  /** For `wipe` (default: `globalThis.indexedDB`, the origin's, which the workers share). */
  readonly indexedDB?: IDBFactory;
}

/** A cluster of replicas, one worker each, linked by a MessageChannel mesh built here. */
export class WorkerCluster {
  readonly replicaCount: number;
  readonly cluster: number;
  private readonly replicas: Array<WorkerReplica | null>;
  private readonly links: PortClientLink[] = [];
  /** The replicas cut off from every other (`partition`). */
  private readonly partitioned = new Set<number>();

  constructor(private readonly options: WorkerClusterOptions) {
    if (!Number.isInteger(options.replicaCount) || options.replicaCount < 1) throw new Error('WorkerCluster: replicaCount must be a positive integer');
    this.replicaCount = options.replicaCount;
    this.cluster = options.cluster ?? 0;
    this.replicas = Array.from({ length: options.replicaCount }, () => null);
  }

  /** Starts every replica (each in a new worker) and resolves once all run. `create` only when forming the cluster. */
  async start(options: { readonly create: boolean }): Promise<StartedEvent[]> {
    const peerPorts: Array<Array<readonly [number, MessagePort]>> = this.replicas.map(() => []);
    for (let a = 0; a < this.replicaCount; a++) {
      for (let b = a + 1; b < this.replicaCount; b++) {
        const channel = new MessageChannel();
        peerPorts[a]?.push([b, channel.port1]);
        peerPorts[b]?.push([a, channel.port2]);
      }
    }
    return Promise.all(peerPorts.map((ports, replicaId) => this.spawn(replicaId, options.create, ports)));
  }

  /** The last status replica `replicaId` posted, or null while it is down. */
  status(replicaId: number): BrowserReplicaStatus | null {
    return this.replicas[replicaId]?.status() ?? null;
  }

  /** Whether replica `replicaId` has a worker. */
  isRunning(replicaId: number): boolean {
    return this.replicas[replicaId] !== null;
  }

  /** worker.terminate(): a crash (no flush). Its IndexedDB store survives. */
  crash(replicaId: number): void {
    this.replicaAt(replicaId).crash();
    this.replicas[replicaId] = null;
  }

  /** A new worker on the replica's store, linked to every running peer and every client. */
  async restart(replicaId: number): Promise<StartedEvent> {
    if (this.replicas[replicaId] !== null) throw new Error(`WorkerCluster: replica ${replicaId} is running (crash it first)`);
    const peerPorts: Array<readonly [number, MessagePort]> = [];
    this.replicas.forEach((peer, peerId) => {
      if (peer === null) return;
      const channel = new MessageChannel();
      peer.connectPeer(replicaId, channel.port2);
      peerPorts.push([peerId, channel.port1]);
    });
    return this.spawn(replicaId, false, peerPorts);
  }

  /** Crashes the replica if it runs, deletes its database and restarts it: it recovers from its peers. */
  async wipe(replicaId: number): Promise<StartedEvent> {
    if (this.replicas[replicaId] !== null) this.crash(replicaId);
    await deleteReplicaDatabase({ cluster: this.cluster, replicaId, ...this.storageOptions() });
    return this.restart(replicaId);
  }

  /** Cuts (or heals) every link between the replica and its peers, both directions. */
  partition(replicaId: number, isolated: boolean): void {
    if (isolated) this.partitioned.add(replicaId);
    else this.partitioned.delete(replicaId);
    this.replicas.forEach((replica, id) => replica?.blockPeers(this.blockedBy(id)));
  }

  /** A client with a port to every replica (re-linked when one restarts). */
  client(options: Omit<BrowserVsrClientOptions, 'link'> = {}): BrowserVsrClient {
    const ports = this.replicas.map((replica) => {
      if (replica === null) return null;
      const channel = new MessageChannel();
      replica.addClientPort(channel.port2);
      return channel.port1;
    });
    const link = new PortClientLink(ports);
    this.links.push(link);
    return new BrowserVsrClient({ ...options, link });
  }

  /** Stops every replica gracefully (each flushes first) and every client link. */
  async close(): Promise<void> {
    for (const link of this.links.splice(0)) link.close();
    await Promise.all(this.replicas.map((replica) => (replica === null ? Promise.resolve() : replica.close())));
    this.replicas.fill(null);
  }

  private async spawn(replicaId: number, create: boolean, peerPorts: Array<readonly [number, MessagePort]>): Promise<StartedEvent> {
    const clientPorts = this.links.map((link) => {
      const channel = new MessageChannel();
      link.connect(replicaId, channel.port1);
      return channel.port2;
    });
    const { cluster, replicaCount } = this;
    const { machine, config, namePrefix, trace, onEvent } = this.options;
    const replica = spawnWorkerReplica(
      this.options.createWorker(replicaId),
      { replicaId, replicaCount, cluster, create, transport: { kind: 'message-channel', peerPorts, clientPorts }, ...defined({ machine, config, namePrefix, trace }) },
      (event) => onEvent?.(replicaId, event),
    );
    this.replicas[replicaId] = replica;
    replica.blockPeers(this.blockedBy(replicaId));
    return replica.started;
  }

  private blockedBy(replicaId: number): number[] {
    const others = Array.from({ length: this.replicaCount }, (_, id) => id).filter((id) => id !== replicaId);
    return this.partitioned.has(replicaId) ? others : others.filter((id) => this.partitioned.has(id));
  }

  private replicaAt(replicaId: number): WorkerReplica {
    const replica = this.replicas[replicaId];
    if (replica === null || replica === undefined) throw new Error(`WorkerCluster: replica ${replicaId} is not running`);
    return replica;
  }

  private storageOptions(): { indexedDB?: IDBFactory; namePrefix?: string } {
    return defined({ indexedDB: this.options.indexedDB, namePrefix: this.options.namePrefix });
  }
}

/** The object without its undefined fields (the options are exact about absent ones). */
function defined<T extends Record<string, unknown>>(fields: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
