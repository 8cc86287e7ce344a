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
