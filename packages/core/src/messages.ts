/**
 * Wire messages between replicas, client requests and replies, the log entry
 * and the durable header. Every one is plain data with an io-ts codec, so any
 * runtime can carry it and decode untrusted bytes with the same rules.
 *
 * Names follow VR Revisited: view number, op number, commit number. A log
 * entry is one op; an op carries a batch of client requests.
 */
import * as t from 'io-ts';
import { CLIENT_ID_LENGTH_MAX, ClientId, NonNegativeInteger, ViewNumber } from './codec.js';

/** A client's request. `requestNumber` 0 registers the client (opens its session). */
export const ClientRequest = t.type({
  clientId: ClientId,
  requestNumber: NonNegativeInteger,
  operation: t.unknown,
});
export type ClientRequest = t.TypeOf<typeof ClientRequest>;

/**
 * A client's read (a query of the application's state): answered by the primary from what it
 * has executed, once a quorum has confirmed it is still the primary (reads.ts). It never enters
 * the log and takes no request number: `readNumber` only pairs the answer with its read.
 */
export const ClientRead = t.type({
  clientId: ClientId,
  readNumber: NonNegativeInteger,
  query: t.unknown,
});
export type ClientRead = t.TypeOf<typeof ClientRead>;

/** What a client sends a replica: a request (through the log) or a read (without it). */
export type ClientInput = ClientRequest | ClientRead;

/** One op in the log: the batch of requests the primary of `viewNumber` put at `opNumber`. */
export const LogEntry = t.type({
  opNumber: NonNegativeInteger,
  viewNumber: NonNegativeInteger,
  /** Chosen by the primary, non-decreasing along the log (paper §4.4): the only clock the state machine sees. */
  timestampMs: NonNegativeInteger,
  requests: t.array(ClientRequest),
});
export type LogEntry = t.TypeOf<typeof LogEntry>;

const isCount = (u: unknown): boolean => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0;

/** The same rules as `LogEntry`, checked imperatively: no allocation per field. */
function isLogEntry(u: unknown): u is LogEntry {
  if (u === null || typeof u !== 'object') return false;
  const entry = u as Record<string, unknown>;
  if (!isCount(entry.opNumber) || !isCount(entry.viewNumber) || !isCount(entry.timestampMs)) return false;
  const requests = entry.requests;
  if (!Array.isArray(requests)) return false;
  for (const request of requests as unknown[]) {
    if (request === null || typeof request !== 'object') return false;
    const { clientId, requestNumber } = request as Record<string, unknown>;
    if (!ClientId.is(clientId) || !isCount(requestNumber)) return false;
  }
  return true;
}

const logEntryArray = t.array(LogEntry);

/**
 * A run of log entries (StartView, DoViewChange, NewState, boot). Logs can be
 * long, so valid input takes a fast imperative check; only invalid input
 * goes through the combinators, for an error that names the field.
 */
export const LogEntries = new t.Type<LogEntry[], LogEntry[], unknown>(
  'Array<LogEntry>',
  (u): u is LogEntry[] => Array.isArray(u) && u.every(isLogEntry),
  (u, c) => (Array.isArray(u) && u.every(isLogEntry) ? t.success(u) : logEntryArray.validate(u, c)),
  t.identity,
);

/**
 * A checkpoint: the application and the client table right after executing
 * op `opNumber` (VR Revisited §5). The log before it can be released; a
 * replica that is further behind receives the checkpoint instead.
 */
export const Checkpoint = t.intersection([
  t.type({
    opNumber: NonNegativeInteger,
    /** The view op `opNumber` was prepared in: (op, view) names the op. */
    viewNumber: NonNegativeInteger,
    timestampMs: NonNegativeInteger,
    /** `StateMachine.snapshot` of the application: JSON, deterministic. */
    snapshot: t.unknown,
    /** The client table, least recently used first. */
    clientTable: t.array(
      t.tuple([
        ClientId,
        t.type({ requestNumber: NonNegativeInteger, result: t.unknown, opNumber: NonNegativeInteger }),
      ]),
    ),
  }),
  /** The machine's `snapshotVersion` when it took the snapshot; absent for version 0. */
  t.partial({ snapshotVersion: NonNegativeInteger }),
]);
export type Checkpoint = t.TypeOf<typeof Checkpoint>;

/**
 * A checkpoint named, its contents left out: what DoViewChange and StartView
 * carry to a receiver known to hold this checkpoint or a later one (so it
 * has executed every op the checkpoint covers and needs only the entries
 * after it). Sending the application snapshot to every replica in every view
 * change would cost time in proportion to the state. `omitted` tells it
 * apart from a full checkpoint: any object with `omitted: true` is a reference.
 */
export const CheckpointReference = t.type({
  opNumber: NonNegativeInteger,
  viewNumber: NonNegativeInteger,
  omitted: t.literal(true),
});
export type CheckpointReference = t.TypeOf<typeof CheckpointReference>;

export function isCheckpointReference(checkpoint: Checkpoint | CheckpointReference): checkpoint is CheckpointReference {
  return (checkpoint as { omitted?: unknown }).omitted === true;
}

/** What must be on stable storage before a replica says anything in a view (design rule 8 of docs/protocol.md). */
export const DurableHeader = t.type({
  viewNumber: NonNegativeInteger,
  /** The latest view in which this replica's log was known to be the view's log (status normal). */
  lastNormalView: NonNegativeInteger,
});
export type DurableHeader = t.TypeOf<typeof DurableHeader>;

const envelope = {
  /** Cluster id: messages from another cluster are rejected. */
  cluster: NonNegativeInteger,
  /** The sending replica's index in the configuration. */
  replica: NonNegativeInteger,
  /** At most VIEW_NUMBER_MAX: a view near 2^53 would leave no room to count views up. */
  viewNumber: ViewNumber,
};

export const Prepare = t.type({
  type: t.literal('prepare'),
  ...envelope,
  opNumber: NonNegativeInteger,
  commitNumber: NonNegativeInteger,
  entry: LogEntry,
});
export type Prepare = t.TypeOf<typeof Prepare>;

/** Cumulative: the backup holds every op up to and including `opNumber` in this view. */
export const PrepareOk = t.type({
  type: t.literal('prepare-ok'),
  ...envelope,
  opNumber: NonNegativeInteger,
});
export type PrepareOk = t.TypeOf<typeof PrepareOk>;

/** Sent by an idle primary: it doubles as the heartbeat. */
export const Commit = t.type({
  type: t.literal('commit'),
  ...envelope,
  commitNumber: NonNegativeInteger,
});
export type Commit = t.TypeOf<typeof Commit>;

/**
 * The primary asks its backups to confirm that they are still in its view (reads.ts): a round
 * that a quorum confirms proves no later view had started when they received it.
 */
export const ConfirmView = t.type({
  type: t.literal('confirm-view'),
  ...envelope,
  round: NonNegativeInteger,
});
export type ConfirmView = t.TypeOf<typeof ConfirmView>;

/** A backup in normal status in `viewNumber` confirms round `round` of its primary. */
export const ConfirmViewOk = t.type({
  type: t.literal('confirm-view-ok'),
  ...envelope,
  round: NonNegativeInteger,
});
export type ConfirmViewOk = t.TypeOf<typeof ConfirmViewOk>;

export const StartViewChange = t.type({
  type: t.literal('start-view-change'),
  ...envelope,
  /** The op of the sender's durable checkpoint: it has executed every op up to it. */
  checkpointOpNumber: NonNegativeInteger,
});
export type StartViewChange = t.TypeOf<typeof StartViewChange>;

export const DoViewChange = t.type({
  type: t.literal('do-view-change'),
  ...envelope,
  lastNormalView: NonNegativeInteger,
  opNumber: NonNegativeInteger,
  commitNumber: NonNegativeInteger,
  /**
   * The sender's checkpoint (a reference when the new primary reported one at
   * least as recent in its StartViewChange); `log` holds the entries after it.
   */
  checkpoint: t.union([CheckpointReference, Checkpoint, t.null]),
  log: LogEntries,
});
export type DoViewChange = t.TypeOf<typeof DoViewChange>;

export const StartView = t.type({
  type: t.literal('start-view'),
  ...envelope,
  opNumber: NonNegativeInteger,
  commitNumber: NonNegativeInteger,
  /**
   * The primary's checkpoint (a reference when the receiver reported one at
   * least as recent); `log` holds the entries after it.
   */
  checkpoint: t.union([CheckpointReference, Checkpoint, t.null]),
  log: LogEntries,
});
export type StartView = t.TypeOf<typeof StartView>;

/** A backup that lacks ops asks the primary of its view for the entries after `opNumber`. */
export const GetState = t.type({
  type: t.literal('get-state'),
  ...envelope,
  opNumber: NonNegativeInteger,
});
export type GetState = t.TypeOf<typeof GetState>;

/**
 * The answer to GetState: `entries` start at `opNumber + 1`. When the asker is
 * behind the primary's checkpoint, the checkpoint comes along and `opNumber`
 * is the checkpoint's.
 */
export const NewState = t.type({
  type: t.literal('new-state'),
  ...envelope,
  opNumber: NonNegativeInteger,
  commitNumber: NonNegativeInteger,
  checkpoint: t.union([Checkpoint, t.null]),
  entries: LogEntries,
});
export type NewState = t.TypeOf<typeof NewState>;

/** A replica that lost its storage asks every replica for the state of the cluster (§4.3). */
export const Recovery = t.type({
  type: t.literal('recovery'),
  ...envelope,
  nonce: NonNegativeInteger,
});
export type Recovery = t.TypeOf<typeof Recovery>;

/** The answer: every normal replica gives its view; the primary of that view also its log. */
export const RecoveryResponse = t.type({
  type: t.literal('recovery-response'),
  ...envelope,
  nonce: NonNegativeInteger,
  primaryState: t.union([
    t.null,
    t.type({
      opNumber: NonNegativeInteger,
      commitNumber: NonNegativeInteger,
      checkpoint: t.union([Checkpoint, t.null]),
      log: LogEntries,
    }),
  ]),
});
export type RecoveryResponse = t.TypeOf<typeof RecoveryResponse>;

export const Message = t.union([
  Prepare,
  PrepareOk,
  Commit,
  StartViewChange,
  DoViewChange,
  StartView,
  GetState,
  NewState,
  Recovery,
  RecoveryResponse,
  ConfirmView,
  ConfirmViewOk,
]);
export type Message = t.TypeOf<typeof Message>;
export type MessageType = Message['type'];

/** What a replica tells a client. */
export const Reply = t.union([
  /** The request executed (or was a duplicate of the latest one): its result. */
  t.type({
    type: t.literal('reply'),
    clientId: ClientId,
    requestNumber: NonNegativeInteger,
    viewNumber: NonNegativeInteger,
    opNumber: NonNegativeInteger,
    result: t.unknown,
  }),
  /** This replica is not the primary of its view (or is changing views): try `primary`. */
  t.type({
    type: t.literal('redirect'),
    clientId: ClientId,
    requestNumber: NonNegativeInteger,
    viewNumber: NonNegativeInteger,
    primary: NonNegativeInteger,
  }),
  /** The request was refused and did not execute; `code` says why. */
  t.type({
    type: t.literal('error'),
    clientId: t.string,
    requestNumber: t.union([NonNegativeInteger, t.null]),
    code: t.keyof({
      'invalid-request': null,
      'invalid-operation': null,
      'not-registered': null,
      busy: null,
    }),
    message: t.string,
  }),
  /** A read's answer: the application's state after op `commitNumber`, at least as new as the read. */
  t.type({
    type: t.literal('read-reply'),
    clientId: ClientId,
    readNumber: NonNegativeInteger,
    viewNumber: NonNegativeInteger,
    commitNumber: NonNegativeInteger,
    result: t.unknown,
  }),
  /** This replica cannot answer reads now (not the primary, or changing views): try `primary`. */
  t.type({
    type: t.literal('read-redirect'),
    clientId: ClientId,
    readNumber: NonNegativeInteger,
    viewNumber: NonNegativeInteger,
    primary: NonNegativeInteger,
  }),
  /** The read was refused; `code` says why. `readNumber` is null when it could not be read. */
  t.type({
    type: t.literal('read-error'),
    clientId: t.string,
    readNumber: t.union([NonNegativeInteger, t.null]),
    code: t.keyof({
      'invalid-read': null,
      'reads-unsupported': null,
      busy: null,
    }),
    message: t.string,
  }),
]);
export type Reply = t.TypeOf<typeof Reply>;

/** What a client input or a reply is about: a request or a read, and its number (null: it could not be read). */
export interface InputKey {
  readonly kind: 'request' | 'read';
  readonly number: number | null;
}

/** Whether a client's input is a read ({clientId, readNumber, query}) rather than a request: how the core tells them apart. */
export function isReadShaped(raw: unknown): boolean {
  if (raw === null || typeof raw !== 'object') return false;
  try {
    return 'readNumber' in raw && !('requestNumber' in raw);
  } catch {
    return false;
  }
}

/** The key of a raw, untrusted client input, read as the core reads it; never throws. */
export function inputKeyOf(raw: unknown): InputKey {
  const kind = isReadShaped(raw) ? 'read' : 'request';
  let number: unknown;
  try {
    number = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>)[kind === 'read' ? 'readNumber' : 'requestNumber'] : undefined;
  } catch {
    number = undefined;
  }
  return { kind, number: NonNegativeInteger.is(number) ? number : null };
}

/** The request or read a reply answers. */
export function repliedInput(reply: Reply): InputKey {
  switch (reply.type) {
    case 'reply':
    case 'redirect':
    case 'error':
      return { kind: 'request', number: reply.requestNumber };
    case 'read-reply':
    case 'read-redirect':
    case 'read-error':
      return { kind: 'read', number: reply.readNumber };
  }
}

/** What an interpreter answers a request whose client id it cannot read (so the core never sees it). */
export function unreadableClientIdReply(): Reply {
  return {
    type: 'error',
    clientId: '',
    requestNumber: null,
    code: 'invalid-request',
    message: `request.clientId: expected a string of 1 to ${CLIENT_ID_LENGTH_MAX} characters (a client request is {clientId, requestNumber, operation})`,
  };
}
export type ErrorCode = Extract<Reply, { type: 'error' }>['code'];
