/**
 * The demo page's script (bundled to out/browser/demo.js): starts the
 * cluster in the mode the URL asks for, wires the form, the table and the
 * diagram, and exposes `window.vsrDemo` for the Chromium tests (and the
 * curious, from the console).
 *
 *   /              three replicas in three workers of this page (MessageChannel)
 *   /?mode=tabs    one replica in this tab; open three (BroadcastChannel)
 *   &replica=N     in tabs mode, host replica N (default: the lowest free one)
 *   &cluster=N     use cluster N's databases (default 1 for workers, 2 for tabs)
 */
import type { DemoCluster, DemoMode } from './demo-cluster.js';
import { ClientHistory } from './history.js';
import { claimReplica, startTabsMode } from './tabs-mode.js';
import { runLoad, type LoadOptions, type LoadResult } from './load.js';
import { LiveTimeline } from './timeline.js';
import { wireDiagram, wireForm, wireTable } from './ui.js';
import { startWorkersMode, type ModeContext } from './workers-mode.js';

const REPLICA_COUNT = 3;
const WINDOW_MS = 6_000;
const ARROWS_MAX = 800;
const OPERATIONS_MAX = 400;

/** What the tests reach through `page.evaluate`. */
export interface DemoHook {
  readonly ready: Promise<DemoCluster>;
  cluster: DemoCluster | null;
  error: string | null;
  /** Concurrent clients on the cluster (load.ts), for the tests and the benchmark. */
  runLoad(options: LoadOptions): Promise<LoadResult>;
}

declare global {
  interface Window {
    vsrDemo: DemoHook;
  }
}

function integerParam(params: URLSearchParams, name: string): number | null {
  const text = params.get(name);
  if (text === null) return null;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`?${name}= must be a non-negative integer, got ${JSON.stringify(text)}`);
  return value;
}

async function start(params: URLSearchParams, notice: (text: string) => void): Promise<DemoCluster> {
  const mode: DemoMode = params.get('mode') === 'tabs' ? 'tabs' : 'workers';
  const cluster = integerParam(params, 'cluster') ?? (mode === 'tabs' ? 2 : 1);
  const timeline = new LiveTimeline({ replicaCount: REPLICA_COUNT, windowMs: WINDOW_MS, arrowsMax: ARROWS_MAX, operationsMax: OPERATIONS_MAX, nowMs: () => performance.now() });
  const trace = params.get('trace') !== '0';
  const context: ModeContext = { cluster, replicaCount: REPLICA_COUNT, timeline, history: new ClientHistory(() => performance.now()), workerUrl: 'worker.js', trace };
  describeMode(mode, cluster);
  let demo: DemoCluster;
  if (mode === 'tabs') {
    const replicaId = await claimReplica(cluster, REPLICA_COUNT, integerParam(params, 'replica'));
    if (replicaId === null) throw new Error('every replica of this cluster is already open in another tab (or the one asked for is)');
    document.title = `r${replicaId} · VSR in the browser`;
    demo = await startTabsMode(context, replicaId);
  } else {
    demo = await startWorkersMode(context);
  }
  document.getElementById('client-id')!.textContent = `this page's client: ${demo.clientId}`;
  wireForm(demo);
  wireDiagram(demo, timeline, WINDOW_MS, wireTable(demo, notice), trace);
  return demo;
}

function describeMode(mode: DemoMode, cluster: number): void {
  document.getElementById('transport')!.textContent = mode === 'tabs' ? 'a BroadcastChannel between tabs' : 'MessageChannels';
  document.getElementById('mode-line')!.textContent =
    mode === 'tabs' ? `One replica per tab (cluster ${cluster}): open this page in three tabs; closing a tab crashes its replica.` : `Three workers in this page (cluster ${cluster}).`;
  const other = document.getElementById('other-mode') as HTMLAnchorElement;
  other.href = mode === 'tabs' ? '?' : '?mode=tabs';
  other.textContent = mode === 'tabs' ? 'Switch to three workers in one page' : 'Switch to one replica per tab';
  document.getElementById('reset')!.addEventListener('click', () => void resetCluster(mode, cluster));
}

/** Deletes the cluster's databases (and, in tabs mode, the marks that it was formed), then reloads. */
async function resetCluster(mode: DemoMode, cluster: number): Promise<void> {
  if (!confirm(`Delete cluster ${cluster}'s data and start a new cluster?`)) return;
  await window.vsrDemo.cluster?.close();
  const { deleteReplicaDatabase } = await import('../storage.js');
  for (let replicaId = 0; replicaId < REPLICA_COUNT; replicaId++) {
    await deleteReplicaDatabase({ cluster, replicaId });
    if (mode === 'tabs') localStorage.removeItem(`vsr-demo-tabs-${cluster}-formed-${replicaId}`);
  }
  location.reload();
}

const notices = document.getElementById('notices')!;
const notice = (text: string) => (notices.textContent = text);
const hook: DemoHook = {
  ready: start(new URLSearchParams(location.search), notice).then(
    (demo) => (hook.cluster = demo),
    (error: unknown) => {
      hook.error = error instanceof Error ? error.message : String(error);
      notice(`could not start: ${hook.error}`);
      throw error;
    },
  ),
  cluster: null,
  error: null,
  runLoad: async (options) => runLoad(await hook.ready, options),
};
window.vsrDemo = hook;
