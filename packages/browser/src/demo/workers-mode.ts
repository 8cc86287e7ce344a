/**
 * The demo's default mode: three replicas in three dedicated workers of this
 * page, linked by MessageChannels (`WorkerCluster`), each on its own
 * IndexedDB database. The page's client has a port to every replica.
 *
 * A reload keeps the data: the cluster is formed (`create`) only when none
 * of its databases exists; otherwise every replica boots from its store, and
 * one whose store is missing recovers from its peers.
 */
import type { KvOperation } from '@vsr/kv';
import type { BrowserVsrClient } from '../client.js';
import { deleteReplicaDatabase, replicaDatabaseName } from '../storage.js';
import { WorkerCluster } from '../worker-host.js';
import type { DemoCluster } from './demo-cluster.js';
import type { ClientHistory } from './history.js';
import { asKvResult } from './kv-result.js';
import { recordPartition, replicaRow, TraceFeed } from './observe.js';
import type { LiveTimeline } from './timeline.js';

export interface ModeContext {
  readonly cluster: number;
  readonly replicaCount: number;
  readonly timeline: LiveTimeline;
  readonly history: ClientHistory;
  /** Where each worker's script is, relative to the page. */
  readonly workerUrl: string;
  /** More core configuration for every replica. */
  readonly config?: unknown;
  /** Whether workers post their sends, deliveries and state changes for the live diagram (`?trace=0`: not, as the benchmark runs). */
  readonly trace: boolean;
}

/** Whether any of the cluster's databases exists in this origin. */
export async function anyDatabaseExists(cluster: number, replicaCount: number): Promise<boolean> {
  const names = new Set((await indexedDB.databases()).map((database) => database.name));
  return Array.from({ length: replicaCount }, (_, replicaId) => replicaDatabaseName(cluster, replicaId)).some((name) => names.has(name));
}

export type RecordedClient = ReturnType<DemoCluster['newClient']>;

/**
 * A client whose every request is recorded in the history. The client runs
 * one request at a time and queues the rest; the queue is kept here, so
 * that an operation's call time is when it is sent, not when it was queued.
 */
export function recordedClient(client: BrowserVsrClient, history: ClientHistory): RecordedClient {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    get clientId() {
      return client.clientId;
    },
    request: (operation: KvOperation) => {
      const run = tail.then(() => history.call(client.clientId, operation, async (op) => asKvResult(await client.request(op))));
      tail = run.catch(() => undefined);
      return run;
    },
  };
}

/** Raw input to the workers' replicas: a new client port each time, and commands straight to a worker. */
function injector(workers: readonly Worker[]): DemoCluster['inject'] {
  return {
    clientFrame: (replicaId, data) => {
      const channel = new MessageChannel();
      workers[replicaId]?.postMessage({ type: 'add-client-port', port: channel.port2 }, [channel.port2]);
      channel.port1.postMessage(data);
    },
    workerCommand: (replicaId, data) => workers[replicaId]?.postMessage(data),
  };
}

export async function startWorkersMode(context: ModeContext): Promise<DemoCluster> {
  const { cluster: clusterId, replicaCount, timeline, history } = context;
  const feed = new TraceFeed(timeline, replicaCount);
  const refused: Array<{ replicaId: number; reason: string; detail: string }> = [];
  const boots: Array<{ replicaId: number; boot: string; damage: string | null }> = [];
  const workers: Worker[] = [];
  const cluster = new WorkerCluster({
    replicaCount,
    cluster: clusterId,
    createWorker: (replicaId) => (workers[replicaId] = new Worker(context.workerUrl, { type: 'module' })),
    trace: context.trace,
    ...(context.config === undefined ? {} : { config: context.config }),
    onEvent: (replicaId, event) => {
      feed.event(event);
      if (event.type === 'started') boots.push({ replicaId, boot: event.boot, damage: event.damage });
      if (event.type === 'refused') refused.push({ replicaId, reason: event.reason, detail: event.detail });
      if (event.type === 'fatal') refused.push({ replicaId, reason: 'fatal', detail: event.message });
    },
  });
  await cluster.start({ create: !(await anyDatabaseExists(clusterId, replicaCount)) });
  const main = recordedClient(cluster.client(), history);
  const isolated = new Set<number>();
  const restarted = (replicaId: number) => {
    feed.restarted(replicaId);
    timeline.record({ kind: 'restart', replicaId });
  };
  return {
    mode: 'workers',
    replicaCount,
    cluster: clusterId,
    get clientId() {
      return main.clientId;
    },
    request: (operation) => main.request(operation),
    newClient: () => recordedClient(cluster.client(), history),
    rows: () => Array.from({ length: replicaCount }, (_, id) => replicaRow(id, cluster.status(id), cluster.isRunning(id), isolated.has(id), true)),
    history: () => history.all(),
    crash: async (replicaId) => {
      cluster.crash(replicaId);
      timeline.record({ kind: 'crash', replicaId });
      return Promise.resolve();
    },
    restart: async (replicaId) => {
      restarted(replicaId);
      await cluster.restart(replicaId);
    },
    wipe: async (replicaId) => {
      // WorkerCluster.wipe does these three steps too; done here one by one, the diagram shows each.
      if (cluster.isRunning(replicaId)) cluster.crash(replicaId);
      timeline.record({ kind: 'wipe', replicaId });
      await deleteReplicaDatabase({ cluster: clusterId, replicaId });
      restarted(replicaId);
      await cluster.restart(replicaId);
    },
    partition: async (replicaId, cut) => {
      const before = new Set(isolated);
      if (cut) isolated.add(replicaId);
      else isolated.delete(replicaId);
      cluster.partition(replicaId, cut);
      recordPartition(timeline, replicaCount, before, isolated);
      return Promise.resolve();
    },
    refusals: () => refused,
    boots: () => boots,
    inject: injector(workers),
    close: () => cluster.close(),
  };
}
