/**
 * What a replica's worker does (worker.ts is its entry): it waits for a
 * `start` command from the page with its configuration and its MessagePorts,
 * opens its IndexedDB store, runs the replica, and posts its status,
 * telemetry, refusals and (if asked) traces back. Every command is decoded
 * with the protocol's codecs; one that does not decode is refused with a
 * reason. Kept apart from worker.ts so that tests run it on a MessagePort.
 */
import { isLeft } from 'fp-ts/lib/Either.js';
import { decodeWith, type StateMachine } from '@vsr/core';
import { BroadcastChannelTransport } from './broadcast-channel-transport.js';
import { MessageChannelTransport } from './message-channel-transport.js';
import { startBrowserReplica, type BrowserReplicaHandle } from './replica.js';
import { IndexedDbStorage } from './storage.js';
import { WorkerCommand, type StartCommand, type WorkerEvent } from './worker-protocol.js';

/** The worker's side of its channel to the page: `self` in a dedicated worker. */
export interface WorkerScope {
  postMessage(event: WorkerEvent): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
}

/** The state machines a worker bundle can run, by the name the `start` command gives. */
export type MachineRegistry = Readonly<Record<string, StateMachine<unknown, unknown, unknown>>>;

export interface WorkerRuntime {
  /** Stops the replica like a terminated worker (tests; a real worker is simply terminated). */
  crash(): Promise<void>;
}

export function serveWorker(scope: WorkerScope, machines: MachineRegistry, options: { readonly indexedDB?: IDBFactory } = {}): WorkerRuntime {
  let replica: BrowserReplicaHandle | null = null;
  let transport: MessageChannelTransport | BroadcastChannelTransport | null = null;
  let starting = false;
  let refusals = 0;
  const post = (event: WorkerEvent) => scope.postMessage(event);
  const refuse = (detail: string) => post({ type: 'refused', reason: 'bad-command', detail, count: ++refusals });
  scope.addEventListener('message', (event: MessageEvent) => {
    const decoded = decodeWith(WorkerCommand, event.data, 'command');
    if (isLeft(decoded)) return refuse(`a command that does not decode (${decoded.left})`);
    const command = decoded.right;
    switch (command.type) {
      case 'start':
        if (starting) return refuse('a second start command');
        starting = true;
        return void start(command, machines, options.indexedDB, post).then(
          (started) => ({ replica, transport } = started),
          (error: unknown) => post({ type: 'fatal', message: `replica ${command.replicaId} could not start: ${error instanceof Error ? error.message : String(error)}` }),
        );
      case 'connect-peer':
        if (!(transport instanceof MessageChannelTransport)) return refuse('connect-peer without a message-channel transport');
        return transport.connectPeer(command.peerId, command.port);
      case 'add-client-port':
        if (!(transport instanceof MessageChannelTransport)) return refuse('add-client-port without a message-channel transport');
        return transport.addClientPort(command.port);
      case 'block-peers':
        return transport?.blockPeers(command.peerIds);
      case 'close':
        return void (replica?.close() ?? Promise.resolve()).then(() => post({ type: 'closed' }));
    }
  });
  return { crash: async () => await replica?.crash() };
}

async function start(
  command: StartCommand,
  machines: MachineRegistry,
  indexedDB: IDBFactory | undefined,
  post: (event: WorkerEvent) => void,
): Promise<{ replica: BrowserReplicaHandle; transport: MessageChannelTransport | BroadcastChannelTransport }> {
  const machine = machines[command.machine];
  if (machine === undefined) throw new Error(`no state machine named ${JSON.stringify(command.machine)} in this worker (it has ${Object.keys(machines).join(', ')})`);
  const { replicaId, replicaCount, cluster } = command;
  const storage = await IndexedDbStorage.open({ cluster, replicaId, create: command.create, ...(indexedDB === undefined ? {} : { indexedDB }), ...(command.namePrefix === undefined ? {} : { namePrefix: command.namePrefix }) });
  const transport =
    command.transport.kind === 'message-channel'
      ? new MessageChannelTransport({ replicaId, replicaCount, peerPorts: command.peerPorts.map(({ peerId, port }) => [peerId, port] as const), clientPorts: command.clientPorts })
      : new BroadcastChannelTransport({ cluster, replicaId, replicaCount, ...(command.transport.channelName === undefined ? {} : { channelName: command.transport.channelName }) });
  const config = { ...(isObject(command.config) ? command.config : {}), cluster, replicaCount };
  let replica: BrowserReplicaHandle;
  try {
    replica = startBrowserReplica({
      config,
      replicaId,
      machine,
      transport,
      storage,
      telemetry: (event) => post({ type: 'telemetry', event }),
      onStatus: (status) => post({ type: 'status', status }),
      onReject: (reason, input) => post({ type: 'rejected', reason, input }),
      onRefusal: (refusal, count) => post({ type: 'refused', reason: refusal.reason, detail: refusal.detail, count }),
      onFatal: (error) => post({ type: 'fatal', message: error.message }),
      ...(command.trace === true ? { onTrace: (event) => post({ type: 'trace', event }) } : {}),
    });
  } catch (error) {
    transport.close();
    storage.crash();
    throw error;
  }
  const boot = storage.report.boot;
  post({ type: 'started', replicaId, boot: boot === null ? 'fresh' : 'lost' in boot ? 'lost' : 'restored', damage: storage.report.damage, databaseName: storage.report.databaseName });
  post({ type: 'status', status: replica.status() });
  return { replica, transport };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
