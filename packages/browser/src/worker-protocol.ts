/**
 * The messages between a page and a replica's worker, as io-ts codecs: each
 * side validates what it receives and refuses what does not decode (a
 * worker answers a bad command with a `refused` event; the page drops a bad
 * event and says so). They travel as structured clones (they carry
 * MessagePorts, which only a structured clone can transfer), between code
 * of the same build.
 */
import * as t from 'io-ts';
import { NonNegativeInteger, PositiveInteger, Telemetry } from '@vsr/core';

/** A MessagePort, as transferred in a structured clone. */
export const Port = new t.Type<MessagePort, MessagePort, unknown>(
  'MessagePort',
  (u): u is MessagePort => typeof MessagePort !== 'undefined' && u instanceof MessagePort,
  (u, c) => (typeof MessagePort !== 'undefined' && u instanceof MessagePort ? t.success(u) : t.failure(u, c)),
  t.identity,
);

const WorkerTransportChoice = t.union([
  t.type({ kind: t.literal('message-channel') }),
  t.intersection([t.type({ kind: t.literal('broadcast-channel') }), t.partial({ channelName: t.string })]),
]);

export const StartCommand = t.intersection([
  t.type({
    type: t.literal('start'),
    replicaId: NonNegativeInteger,
    replicaCount: PositiveInteger,
    cluster: NonNegativeInteger,
    /** Format a new store if there is none: only when the cluster is formed. */
    create: t.boolean,
    /** The state machine, by name (the worker bundle holds the machines it can run). */
    machine: t.string,
    transport: WorkerTransportChoice,
    /** For a message-channel transport: this replica's end of the channel to each peer. */
    peerPorts: t.array(t.type({ peerId: NonNegativeInteger, port: Port })),
    clientPorts: t.array(Port),
  }),
  t.partial({
    /** More core configuration ({ timeouts, limits }); the core validates it. */
    config: t.unknown,
    namePrefix: t.string,
    /** Post a `trace` event for each send, delivery and state change. */
    trace: t.boolean,
  }),
]);
export type StartCommand = t.TypeOf<typeof StartCommand>;

export const WorkerCommand = t.union([
  StartCommand,
  t.type({ type: t.literal('connect-peer'), peerId: NonNegativeInteger, port: Port }),
  t.type({ type: t.literal('add-client-port'), port: Port }),
  t.type({ type: t.literal('block-peers'), peerIds: t.array(NonNegativeInteger) }),
  /** Flush, send what waited, stop; answered with `closed`. */
  t.type({ type: t.literal('close') }),
]);
export type WorkerCommand = t.TypeOf<typeof WorkerCommand>;

const Status = t.type({
  replicaId: NonNegativeInteger,
  viewNumber: NonNegativeInteger,
  status: t.string,
  primary: NonNegativeInteger,
  opNumber: NonNegativeInteger,
  commitNumber: NonNegativeInteger,
  checkpointOpNumber: NonNegativeInteger,
});

const TraceEvent = t.union([
  t.intersection([
    t.type({ kind: t.literal('send'), atMs: t.number, from: NonNegativeInteger, to: NonNegativeInteger, id: NonNegativeInteger, type: t.string, viewNumber: NonNegativeInteger }),
    t.partial({ opNumber: NonNegativeInteger }),
  ]),
  t.type({ kind: t.literal('deliver'), atMs: t.number, from: NonNegativeInteger, to: NonNegativeInteger, id: NonNegativeInteger }),
  t.type({
    kind: t.literal('state'),
    atMs: t.number,
    replicaId: NonNegativeInteger,
    viewNumber: NonNegativeInteger,
    status: t.string,
    opNumber: NonNegativeInteger,
    commitNumber: NonNegativeInteger,
  }),
]);

export const WorkerEvent = t.union([
  /** The store is open and the replica runs: how it booted, and why it recovers if it does. */
  t.type({
    type: t.literal('started'),
    replicaId: NonNegativeInteger,
    boot: t.keyof({ fresh: null, restored: null, lost: null }),
    damage: t.union([t.string, t.null]),
    databaseName: t.string,
  }),
  t.type({ type: t.literal('status'), status: Status }),
  t.type({ type: t.literal('telemetry'), event: t.intersection([Telemetry, t.partial({ stepDurationMs: t.number })]) }),
  /** A frame the transport refused, or a command the worker could not take. */
  t.type({ type: t.literal('refused'), reason: t.string, detail: t.string, count: NonNegativeInteger }),
  /** An input the core rejected. */
  t.type({ type: t.literal('rejected'), reason: t.string, input: t.string }),
  t.type({ type: t.literal('trace'), event: TraceEvent }),
  /** The replica stopped: its store failed, the core broke an invariant, or it could not start (an incompatible store). */
  t.type({ type: t.literal('fatal'), message: t.string }),
  t.type({ type: t.literal('closed') }),
]);
export type WorkerEvent = t.TypeOf<typeof WorkerEvent>;
