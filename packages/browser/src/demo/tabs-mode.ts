/**
 * The demo's second mode (`?mode=tabs`): one replica per tab, in a worker of
 * that tab, and the cluster's traffic (peers and clients) on the origin's
 * BroadcastChannel. Closing the tab crashes its replica.
 *
 * Which replica a tab hosts: `&replica=N`, or the lowest one no other tab
 * holds, claimed with a Web Lock (released by the browser when the tab
 * closes, so a reopened tab takes the free replica again).
 *
 * Whether to format (`create`): a replica is formatted only the first time
 * this origin starts it (a localStorage mark set just before); after that,
 * a missing store means a lost one, and the replica recovers from its peers.
 *
 * Tabs tell each other their replica's status and trace on a demo channel
 * of their own, decoded with the worker protocol's codec like any input, so
 * every tab's table and diagram show the whole cluster.
 */
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { NonNegativeInteger, decodeWith } from '@vsr/core';
import { clusterChannelName } from '../broadcast-channel-transport.js';
import { BrowserVsrClient, BroadcastClientLink } from '../client.js';
import type { BrowserReplicaStatus } from '../replica.js';
import { deleteReplicaDatabase } from '../storage.js';
import { spawnWorkerReplica, type WorkerReplica } from '../worker-host.js';
import { WorkerEvent } from '../worker-protocol.js';
import type { DemoCluster, ReplicaRow } from './demo-cluster.js';
import { replicaRow, TraceFeed } from './observe.js';
import { recordedClient, type ModeContext } from './workers-mode.js';

/** A tab's report to the other tabs. */
const TabReport = t.type({ replicaId: NonNegativeInteger, event: WorkerEvent });
/** A tab unheard of for this long shows its replica as down. */
const SILENT_MS = 3_000;
const REPORT_EVERY_MS = 1_000;

/** The replica this tab hosts: the one asked for, or the lowest free one; null when it (or every one) is taken. */
export async function claimReplica(cluster: number, replicaCount: number, asked: number | null): Promise<number | null> {
  const candidates = asked === null ? Array.from({ length: replicaCount }, (_, id) => id) : [asked];
  for (const replicaId of candidates) {
    const held = await new Promise<boolean>((claimed) => {
      void navigator.locks.request(`vsr-demo-${cluster}-replica-${replicaId}`, { ifAvailable: true }, (lock) => {
        claimed(lock !== null);
        // Held until the tab goes away.
        return lock === null ? undefined : new Promise<never>(() => {});
      });
    });
    if (held) return replicaId;
  }
  return null;
}

function formedMark(cluster: number, replicaId: number): string {
  return `vsr-demo-tabs-${cluster}-formed-${replicaId}`;
}

interface Heard {
  status: BrowserReplicaStatus | null;
  atMs: number;
}

/** The other tabs, as this tab hears them on the demo channel. */
class OtherTabs {
  private readonly heard = new Map<number, Heard>();
  private readonly channel: BroadcastChannel;

  constructor(
    cluster: number,
    private readonly replicaId: number,
    private readonly replicaCount: number,
    feed: TraceFeed,
  ) {
    this.channel = new BroadcastChannel(`vsr-demo-tabs-${cluster}`);
    this.channel.onmessage = (message: MessageEvent) => {
      const decoded = decodeWith(TabReport, message.data, 'report');
      if (isLeft(decoded) || decoded.right.replicaId === replicaId || decoded.right.replicaId >= replicaCount) return;
      const { replicaId: from, event } = decoded.right;
      const previous = this.heard.get(from);
      this.heard.set(from, { status: event.type === 'status' ? event.status : (previous?.status ?? null), atMs: performance.now() });
      if (event.type === 'closed') this.heard.delete(from);
      feed.event(event);
    };
  }

  /** Tells the other tabs what this tab's replica did. */
  tell(event: WorkerEvent): void {
    this.channel.postMessage({ replicaId: this.replicaId, event });
  }

  row(replicaId: number): ReplicaRow {
    const last = this.heard.get(replicaId);
    const alive = last !== undefined && performance.now() - last.atMs < SILENT_MS;
    return replicaRow(replicaId, last?.status ?? null, alive, false, false);
  }
}

/** This tab's replica, in a worker of its own: started, crashed, restarted, wiped, cut off. */
class TabReplica {
  private replica: WorkerReplica | null = null;
  cut = false;
  readonly refused: Array<{ replicaId: number; reason: string; detail: string }> = [];
  readonly boots: Array<{ replicaId: number; boot: string; damage: string | null }> = [];
  private worker: Worker | null = null;

  constructor(
    private readonly context: ModeContext,
    readonly replicaId: number,
    private readonly feed: TraceFeed,
    private readonly others: OtherTabs,
  ) {}

  get status(): BrowserReplicaStatus | null {
    return this.replica?.status() ?? null;
  }

  get isRunning(): boolean {
    return this.replica !== null;
  }

  async spawn(): Promise<void> {
    const { cluster, replicaCount, config } = this.context;
    const mark = formedMark(cluster, this.replicaId);
    const create = localStorage.getItem(mark) === null;
    localStorage.setItem(mark, 'yes'); // before it can speak: from now on a missing store is a lost one
    const onEvent = (event: WorkerEvent) => {
      this.feed.event(event);
      if (event.type === 'started') this.boots.push({ replicaId: this.replicaId, boot: event.boot, damage: event.damage });
      if (event.type === 'refused') this.refused.push({ replicaId: this.replicaId, reason: event.reason, detail: event.detail });
      if (event.type === 'fatal') this.refused.push({ replicaId: this.replicaId, reason: 'fatal', detail: event.message });
      if (event.type === 'status' || event.type === 'trace') this.others.tell(event);
    };
    const options = { replicaId: this.replicaId, replicaCount, cluster, create, trace: this.context.trace, transport: { kind: 'broadcast-channel' as const } };
    this.worker = new Worker(this.context.workerUrl, { type: 'module' });
    const spawned = spawnWorkerReplica(this.worker, { ...options, ...(config === undefined ? {} : { config }) }, onEvent);
    this.replica = spawned;
    if (this.cut) spawned.blockPeers(this.peers());
    await spawned.started;
  }

  crash(): void {
    this.replica?.crash();
    this.replica = null;
    this.context.timeline.record({ kind: 'crash', replicaId: this.replicaId });
  }

  async restart(): Promise<void> {
    this.feed.restarted(this.replicaId);
    this.context.timeline.record({ kind: 'restart', replicaId: this.replicaId });
    await this.spawn();
  }

  async wipe(): Promise<void> {
    if (this.replica !== null) this.crash();
    this.context.timeline.record({ kind: 'wipe', replicaId: this.replicaId });
    await deleteReplicaDatabase({ cluster: this.context.cluster, replicaId: this.replicaId });
    await this.restart();
  }

  partition(isolate: boolean): void {
    this.cut = isolate;
    this.replica?.blockPeers(isolate ? this.peers() : []);
    const blocked = this.peers().flatMap((peer): Array<[number, number]> => [[this.replicaId, peer], [peer, this.replicaId]]);
    this.context.timeline.record(isolate ? { kind: 'partition', blocked } : { kind: 'heal' });
  }

  async close(): Promise<void> {
    await this.replica?.close();
    this.replica = null;
    this.others.tell({ type: 'closed' });
  }

  /** Posts `data` to this replica's worker as if it were a command. */
  command(data: unknown): void {
    if (this.replica !== null) this.worker?.postMessage(data);
  }

  private peers(): number[] {
    return Array.from({ length: this.context.replicaCount }, (_, id) => id).filter((id) => id !== this.replicaId);
  }
}

export async function startTabsMode(context: ModeContext, replicaId: number): Promise<DemoCluster> {
  const { cluster, replicaCount, timeline, history } = context;
  const feed = new TraceFeed(timeline, replicaCount);
  const others = new OtherTabs(cluster, replicaId, replicaCount, feed);
  const local = new TabReplica(context, replicaId, feed, others);
  await local.spawn();
  // The others learn this tab is alive even while its status does not change.
  setInterval(() => {
    const status = local.status;
    if (status !== null) others.tell({ type: 'status', status });
  }, REPORT_EVERY_MS);
  addEventListener('pagehide', () => others.tell({ type: 'closed' }));
  const link = new BroadcastClientLink({ cluster, replicaCount });
  const newClient = () => recordedClient(new BrowserVsrClient({ link, primaryGuess: replicaId }), history);
  const main = newClient();
  const only = async (id: number, action: () => void | Promise<void>): Promise<void> => {
    if (id !== replicaId) throw new Error(`r${id} runs in another tab`);
    await action();
  };
  return {
    mode: 'tabs',
    replicaCount,
    cluster,
    get clientId() {
      return main.clientId;
    },
    request: (operation) => main.request(operation),
    newClient,
    rows: () => Array.from({ length: replicaCount }, (_, id) => (id === replicaId ? replicaRow(id, local.status, local.isRunning, local.cut, true) : others.row(id))),
    history: () => history.all(),
    crash: (id) => only(id, () => local.crash()),
    restart: (id) => only(id, () => local.restart()),
    wipe: (id) => only(id, () => local.wipe()),
    partition: (id, isolate) => only(id, () => local.partition(isolate)),
    refusals: () => local.refused,
    boots: () => local.boots,
    inject: {
      clientFrame: (_replicaId, data) => {
        const channel = new BroadcastChannel(clusterChannelName(cluster));
        channel.postMessage(data);
        channel.close();
      },
      workerCommand: (id, data) => void only(id, () => local.command(data)),
    },
    close: () => local.close(),
  };
}
