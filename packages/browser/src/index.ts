/**
 * @vsr/browser: runs @vsr/core replicas in a browser, under the same effect
 * contract as the Node runtime (docs/architecture.md, docs/browser.md).
 *
 * API summary (stable; the demo page and the Chromium tests build on it):
 *
 *   // Page side: a cluster of replicas, one dedicated Web Worker each (worker-host.ts).
 *   const cluster = new WorkerCluster({
 *     replicaCount: 3, cluster: 0,                       // cluster id: part of each IndexedDB name
 *     createWorker: (replicaId) => new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }),
 *     config: { timeouts: {…}, limits: {…} },            // optional core config (replicaId/replicaCount/cluster are set here)
 *     namePrefix: 'vsr',                                 // optional IndexedDB name prefix
 *     trace: true,                                       // optional: workers post 'trace' events (send/deliver/state)
 *     onEvent: (replicaId, event: WorkerEvent) => {},    // 'started' | 'status' | 'telemetry' | 'refused' | 'trace' | 'fatal' | 'closed'
 *   });
 *   await cluster.start({ create: true });              // create: format new stores (first start of a cluster only)
 *   const client = cluster.client();                     // a BrowserVsrClient with a MessagePort to every replica
 *   await client.request({ type: 'write', key: 'k', value: 'v' });   // → { ok: true }
 *   cluster.status(replicaId);                           // the last BrowserReplicaStatus the worker posted, or null
 *   cluster.crash(replicaId);                            // worker.terminate(): a crash, its IndexedDB store survives
 *   await cluster.restart(replicaId);                    // a new worker on the same store, re-wired to its peers and clients
 *   await cluster.wipe(replicaId);                       // crash, delete its database, restart: it recovers from its peers
 *   cluster.partition(replicaId, true | false);          // cut (or heal) its links to every peer, both directions
 *   await cluster.close();                               // graceful: each worker flushes, then it is terminated
 *
 *   // One replica in one worker (the three-tab mode: one replica per tab over BroadcastChannel).
 *   const replica = spawnWorkerReplica(worker, { replicaId, replicaCount, cluster, create,
 *     transport: { kind: 'broadcast-channel' } | { kind: 'message-channel', peerPorts: [[peerId, port]], clientPorts: [port] } }, onEvent);
 *   await replica.started;  replica.crash();  await replica.close();  replica.connectPeer(peerId, port);  replica.addClientPort(port);
 *   const tabClient = new BrowserVsrClient({ link: new BroadcastClientLink({ cluster, replicaCount }) });
 *
 *   // In-page (main thread) replica, for tests and embedders.
 *   const storage = await IndexedDbStorage.open({ cluster, replicaId, create, indexedDB? });   // storage.report.boot / .damage
 *   const handle = startBrowserReplica({ config, replicaId, machine: kvMachine, transport, storage, telemetry?, timers? });
 *   handle.status(); handle.observe(); handle.submit(request, respond); await handle.close(); await handle.crash();
 *
 *   // Transports: new MessageChannelTransport({ replicaId, replicaCount, peerPorts, clientPorts }),
 *   //             new BroadcastChannelTransport({ cluster, replicaId, replicaCount, channelName? }).
 *   // Client links: new PortClientLink(portsByReplicaId), new BroadcastClientLink({ cluster, replicaCount }).
 *   // Storage tools: replicaDatabaseName(cluster, replicaId, prefix?), deleteReplicaDatabase({ cluster, replicaId }).
 *   // inProcessWorker({ kv: kvMachine }): a WorkerLike running the worker runtime on this thread (Node tests, fallback).
 *
 * The worker entry is src/worker.ts, bundled to out/browser/worker.js by scripts/build.ts.
 */
export { crc32 } from './checksum.js';
export {
  IndexedDbStorage,
  StoreIncompatible,
  replicaDatabaseName,
  deleteReplicaDatabase,
  STORE_FORMAT_VERSION,
  type IndexedDbStorageOptions,
  type OpenReport,
  type ReplicaStorage,
} from './storage.js';
export { startBrowserReplica, type BrowserReplicaOptions, type BrowserReplicaHandle, type BrowserReplicaStatus, type ReplicaTimers } from './replica.js';
export type { BrowserTransport, ClientRequestHandler, Refusal } from './transport.js';
export { encodeFrame, decodeFrame, FRAME_BYTES_MAX, CLIENT_FRAME_BYTES_MAX, REPLY_FRAME_BYTES_MAX, Frame } from './wire.js';
export { MessageChannelTransport, type MessageChannelTransportOptions } from './message-channel-transport.js';
export { BroadcastChannelTransport, clusterChannelName, type BroadcastChannelTransportOptions } from './broadcast-channel-transport.js';
export {
  BrowserVsrClient,
  PortClientLink,
  BroadcastClientLink,
  VsrTimeoutError,
  VsrRequestError,
  freshClientId,
  type ClientLink,
  type BrowserVsrClientOptions,
} from './client.js';
export {
  WorkerCluster,
  spawnWorkerReplica,
  type WorkerClusterOptions,
  type WorkerReplica,
  type WorkerReplicaOptions,
  type WorkerLike,
  type StartedEvent,
} from './worker-host.js';
export { WorkerEvent, WorkerCommand } from './worker-protocol.js';
export { serveWorker, type WorkerScope, type MachineRegistry, type WorkerRuntime } from './worker-runtime.js';
export { inProcessWorker } from './in-process-worker.js';
export type { ReplicaTraceEvent } from './replica.js';
