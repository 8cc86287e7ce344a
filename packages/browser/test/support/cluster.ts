/** Three (or n) replicas on this thread over a MessageChannel mesh, on fake-indexeddb: the runtime tests' cluster. */
import { kvMachine } from '@vsr/kv';
import {
  BrowserVsrClient,
  IndexedDbStorage,
  MessageChannelTransport,
  PortClientLink,
  startBrowserReplica,
  type BrowserReplicaHandle,
  type ReplicaStorage,
} from '../../src/index.js';
import { IDBFactory } from './idb.js';

export const TIMEOUTS = { heartbeatMs: 20, primaryTimeoutMs: 150, prepareRetryMs: 20, viewChangeTimeoutMs: 400, viewChangeRetryMs: 40, repairRetryMs: 40, recoveryRetryMs: 40 };

export interface TestCluster {
  readonly factory: IDBFactory;
  readonly replicas: Array<BrowserReplicaHandle | null>;
  readonly transports: Array<MessageChannelTransport | null>;
  /** ports[a][b]: the end of the a–b channel that replica b holds (posting on it reaches replica a, as if from b). */
  readonly ports: Array<Array<MessagePort | null>>;
  /** (Re)starts replica `replicaId` on its database, linked to every running peer and to the client link. */
  readonly start: (replicaId: number, create: boolean, wrap?: (storage: ReplicaStorage) => ReplicaStorage) => Promise<BrowserReplicaHandle>;
  readonly crash: (replicaId: number) => Promise<void>;
  readonly client: (options?: { timeoutMs?: number; attemptTimeoutMs?: number; primaryGuess?: number }) => BrowserVsrClient;
  readonly close: () => Promise<void>;
}

export async function startCluster(replicaCount = 3, options: { frameBytesMax?: number; checkpointIntervalOps?: number } = {}): Promise<TestCluster> {
  const factory = new IDBFactory();
  const replicas: Array<BrowserReplicaHandle | null> = Array.from({ length: replicaCount }, () => null);
  const transports: Array<MessageChannelTransport | null> = replicas.map(() => null);
  const ports: Array<Array<MessagePort | null>> = replicas.map(() => replicas.map(() => null));
  const links: PortClientLink[] = [];
  const clients: BrowserVsrClient[] = [];
  const start = async (replicaId: number, create: boolean, wrap?: (storage: ReplicaStorage) => ReplicaStorage) => {
    const opened = await IndexedDbStorage.open({ cluster: 0, replicaId, create, indexedDB: factory });
    const storage = wrap === undefined ? opened : wrap(opened);
    const transport = new MessageChannelTransport({ replicaId, replicaCount, ...(options.frameBytesMax === undefined ? {} : { frameBytesMax: options.frameBytesMax }) });
    transports.forEach((peer, peerId) => {
      if (peer === null || peerId === replicaId) return;
      const channel = new MessageChannel();
      peer.connectPeer(replicaId, channel.port1);
      transport.connectPeer(peerId, channel.port2);
      ports[peerId]![replicaId] = channel.port2; // Posting on it reaches peerId as if from replicaId.
      ports[replicaId]![peerId] = channel.port1;
    });
    for (const link of links) {
      const channel = new MessageChannel();
      transport.addClientPort(channel.port2);
      link.connect(replicaId, channel.port1);
    }
    transports[replicaId] = transport;
    const handle = startBrowserReplica({
      config: { replicaCount, timeouts: TIMEOUTS, limits: { checkpointIntervalOps: options.checkpointIntervalOps ?? 8 } },
      replicaId,
      machine: kvMachine,
      transport,
      storage,
      onFatal: (error) => {
        throw error;
      },
    });
    replicas[replicaId] = handle;
    return handle;
  };
  for (let replicaId = 0; replicaId < replicaCount; replicaId++) await start(replicaId, true);
  return {
    factory,
    replicas,
    transports,
    ports,
    start,
    crash: async (replicaId) => {
      const replica = replicas[replicaId];
      replicas[replicaId] = null;
      transports[replicaId] = null;
      await replica?.crash();
    },
    client: (clientOptions = {}) => {
      const link = new PortClientLink(
        transports.map((transport) => {
          if (transport === null) return null;
          const channel = new MessageChannel();
          transport.addClientPort(channel.port2);
          return channel.port1;
        }),
      );
      links.push(link);
      const client = new BrowserVsrClient({ link, timeoutMs: 5_000, attemptTimeoutMs: 300, ...clientOptions });
      clients.push(client);
      return client;
    },
    close: async () => {
      for (const client of clients) client.close();
      for (const link of links) link.close();
      await Promise.all(replicas.map((replica) => (replica === null ? Promise.resolve() : replica.close())));
    },
  };
}
