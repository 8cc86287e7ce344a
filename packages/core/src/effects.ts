/**
 * Events (what happens to a replica) and effects (what the replica asks its
 * interpreter to do). Both are plain data with io-ts codecs.
 *
 * The effect contract (docs/architecture.md): the effects of one step are
 * carried out in order; a send or reply never leaves the process before every
 * storage write (log-append, log-truncate, log-release, persist-header) that
 * precedes it, in this step or an earlier one, is durable (a persist-checkpoint
 * may become durable in the background, but no release overtakes it); setting
 * a timer replaces the timer of the same name.
 */
import * as t from 'io-ts';
import { NonNegativeInteger } from './codec.js';
import { Checkpoint, DurableHeader, LogEntries, LogEntry, Message, Reply } from './messages.js';

export const TimerName = t.keyof({
  heartbeat: null,
  'primary-timeout': null,
  'prepare-retry': null,
  'view-change-timeout': null,
  'view-change-retry': null,
  'repair-retry': null,
  'recovery-retry': null,
});
export type TimerName = t.TypeOf<typeof TimerName>;

/**
 * What storage held when the process started:
 * - `null`: a replica formatted fresh together with its cluster (it has never spoken);
 * - `{ header, log, checkpoint? }`: what it persisted;
 * - `{ lost: true, nonce }`: its storage is gone or unusable. It may have
 *   acknowledged ops it no longer holds, so it must not rejoin as if fresh: it
 *   recovers from a quorum (VR Revisited §4.3). The nonce, which the
 *   interpreter draws from its own randomness, tells this recovery's answers
 *   from those of an earlier one.
 */
export const BootStorage = t.union([
  t.null,
  t.intersection([
    t.type({
      header: DurableHeader,
      /** The entries storage holds, in order; those at or before the checkpoint are skipped. */
      log: LogEntries,
    }),
    t.partial({ checkpoint: t.union([Checkpoint, t.null]) }),
  ]),
  t.type({ lost: t.literal(true), nonce: NonNegativeInteger }),
]);
export type BootStorage = t.TypeOf<typeof BootStorage>;

export const Event = t.union([
  t.type({ kind: t.literal('boot'), storage: BootStorage }),
  /** A message from a peer, exactly as it came off the wire (decoded JSON, not yet validated). */
  t.type({ kind: t.literal('message'), message: t.unknown }),
  /**
   * A client's request or read (a read has `readNumber` and no `requestNumber`), not yet
   * validated. `receivedAtMs` is the interpreter's wall clock, if it has one.
   */
  t.intersection([
    t.type({ kind: t.literal('client-request'), request: t.unknown }),
    t.partial({ receivedAtMs: NonNegativeInteger }),
  ]),
  t.type({ kind: t.literal('timeout'), timer: TimerName }),
]);
export type Event = t.TypeOf<typeof Event>;

export const TELEMETRY_NAMES = [
  'vsr.leadership.start',
  'vsr.leadership.stop',
  'vsr.status.change',
  'vsr.client.request',
  'vsr.client.duplicate',
  'vsr.client.evicted',
  'vsr.prepare.sent',
  'vsr.prepare.received',
  'vsr.prepare.retransmit',
  'vsr.prepare_ok.sent',
  'vsr.prepare_ok.received',
  'vsr.heartbeat.sent',
  'vsr.heartbeat.received',
  'vsr.log.append',
  'vsr.log.truncate',
  'vsr.quorum.reached',
  'vsr.commit.advance',
  'vsr.operation.applied',
  'vsr.primary.timeout',
  'vsr.view_change.start',
  'vsr.view_change.vote_received',
  'vsr.view_change.do_view_change_sent',
  'vsr.view_change.do_view_change_received',
  'vsr.view_change.complete',
  'vsr.view_change.timeout',
  'vsr.state_transfer.request_sent',
  'vsr.state_transfer.request_received',
  'vsr.state_transfer.sent',
  'vsr.state_transfer.received',
  'vsr.checkpoint.taken',
  'vsr.checkpoint.installed',
  'vsr.recovery.start',
  'vsr.recovery.response',
  'vsr.recovery.waiting',
  'vsr.recovery.complete',
  'vsr.input.rejected',
  'vsr.read.confirmed',
] as const;
export type TelemetryName = (typeof TELEMETRY_NAMES)[number];

const TelemetryNameCodec = t.keyof(
  Object.fromEntries(TELEMETRY_NAMES.map((name) => [name, null])) as Record<TelemetryName, null>,
);

export const TelemetryData = t.record(t.string, t.union([t.number, t.string, t.boolean, t.null]));
export type TelemetryData = t.TypeOf<typeof TelemetryData>;

const count = NonNegativeInteger;
const replica = NonNegativeInteger;
const none = t.strict({});
const clientRequest = t.strict({ clientId: t.string, requestNumber: count });
const Status = t.keyof({ booting: null, normal: null, 'view-change': null, recovering: null });

/**
 * Each event's payload (`data`), exactly: one codec per name, no field left out or added. The
 * reducer's `ctx.telemetry` is typed by them, so an event cannot be emitted with another shape;
 * consumers can decode `data` with the codec of `name`.
 */
export const TelemetryPayloads = {
  'vsr.leadership.start': none,
  'vsr.leadership.stop': none,
  'vsr.status.change': t.strict({ from: Status, to: Status }),
  'vsr.client.request': clientRequest,
  'vsr.client.duplicate': clientRequest,
  'vsr.client.evicted': t.strict({ clientId: t.string }),
  'vsr.prepare.sent': t.strict({ requests: count }),
  'vsr.prepare.received': t.strict({ opNumber: count }),
  'vsr.prepare.retransmit': t.strict({ messages: count }),
  'vsr.prepare_ok.sent': t.strict({ opNumber: count }),
  'vsr.prepare_ok.received': t.strict({ from: replica, opNumber: count }),
  'vsr.heartbeat.sent': none,
  'vsr.heartbeat.received': t.strict({ commitNumber: count }),
  /** Entries appended: one from a Prepare or a new op, a run when a view change, a recovery or a repair installs them. */
  'vsr.log.append': t.strict({ entries: count, requests: count }),
  'vsr.log.truncate': t.strict({ removed: count }),
  'vsr.quorum.reached': t.strict({ opNumber: count, acks: count }),
  'vsr.commit.advance': t.strict({ from: count, to: count }),
  'vsr.operation.applied': t.strict({ opNumber: count, requests: count, executed: count }),
  'vsr.primary.timeout': none,
  'vsr.view_change.start': t.strict({ lastNormalView: count }),
  'vsr.view_change.vote_received': t.strict({ from: replica, votes: count }),
  'vsr.view_change.do_view_change_sent': t.strict({ to: replica }),
  'vsr.view_change.do_view_change_received': t.strict({ from: replica, count }),
  /** At the new primary `chosenFrom` (whose log the view starts from) and `votes`; at a backup both null. */
  'vsr.view_change.complete': t.strict({ primary: replica, chosenFrom: t.union([replica, t.null]), votes: t.union([count, t.null]) }),
  'vsr.view_change.timeout': none,
  'vsr.state_transfer.request_sent': t.strict({ afterOpNumber: count }),
  'vsr.state_transfer.request_received': t.strict({ from: replica, afterOpNumber: count }),
  'vsr.state_transfer.sent': t.strict({ to: replica, afterOpNumber: count, entries: count, checkpoint: t.boolean }),
  'vsr.state_transfer.received': t.strict({ afterOpNumber: count, entries: count }),
  'vsr.checkpoint.taken': t.strict({ opNumber: count, releasedOpNumber: count }),
  'vsr.checkpoint.installed': t.strict({ opNumber: count }),
  'vsr.recovery.start': t.strict({ nonce: count }),
  'vsr.recovery.response': t.strict({ from: replica, responses: count }),
  'vsr.recovery.waiting': t.strict({ answers: count, needed: count, primaryAnswered: t.boolean }),
  'vsr.recovery.complete': t.strict({ primary: replica, responses: count }),
  'vsr.input.rejected': t.strict({ reason: t.string, input: t.string }),
  'vsr.read.confirmed': t.strict({ round: count, pending: count }),
} as const satisfies Record<TelemetryName, t.Mixed>;
export type TelemetryPayload<N extends TelemetryName> = t.TypeOf<(typeof TelemetryPayloads)[N]>;

export const Telemetry = t.type({
  name: TelemetryNameCodec,
  replicaId: NonNegativeInteger,
  viewNumber: NonNegativeInteger,
  opNumber: NonNegativeInteger,
  commitNumber: NonNegativeInteger,
  data: TelemetryData,
});
export type Telemetry = t.TypeOf<typeof Telemetry>;

export const Effect = t.union([
  t.type({ kind: t.literal('send'), to: NonNegativeInteger, message: Message }),
  t.type({ kind: t.literal('reply'), clientId: t.string, reply: Reply }),
  /** Append one entry; entries arrive in op order with no gaps. */
  t.type({ kind: t.literal('log-append'), entry: LogEntry }),
  /** Remove every entry whose op number is above `opNumber`. */
  t.type({ kind: t.literal('log-truncate'), opNumber: NonNegativeInteger }),
  /** Write the durable header atomically (replacing the previous one). */
  t.type({ kind: t.literal('persist-header'), header: DurableHeader }),
  /** Write the checkpoint atomically (replacing the previous one). */
  t.type({ kind: t.literal('persist-checkpoint'), checkpoint: Checkpoint }),
  /** Drop every entry whose op number is at or below `opNumber`: the checkpoint covers them. */
  t.type({ kind: t.literal('log-release'), opNumber: NonNegativeInteger }),
  t.type({ kind: t.literal('set-timer'), timer: TimerName, afterMs: NonNegativeInteger }),
  t.type({ kind: t.literal('cancel-timer'), timer: TimerName }),
  t.type({ kind: t.literal('telemetry'), event: Telemetry }),
  /** Input refused; protocol state did not change. */
  t.type({ kind: t.literal('reject'), reason: t.string, input: t.string }),
]);
export type Effect = t.TypeOf<typeof Effect>;
