/**
 * Replica configuration: validated once, at construction, with errors that
 * name the field. Everything that bounds memory or time is here.
 */
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { freeze } from 'immer';
import { NonNegativeInteger, PositiveInteger, formatErrors } from './codec.js';
import { assert } from './assert.js';

export const REPLICA_COUNT_MAX = 15;

const TimeoutsInput = t.partial({
  /** How often an idle primary sends Commit (the heartbeat). */
  heartbeatMs: PositiveInteger,
  /** How long a backup waits without hearing from the primary before starting a view change. */
  primaryTimeoutMs: PositiveInteger,
  /** How often the primary resends Prepares that lack acknowledgements. */
  prepareRetryMs: PositiveInteger,
  /** How long a view change may stall before the replica moves on to the next view. */
  viewChangeTimeoutMs: PositiveInteger,
  /** How often StartViewChange and DoViewChange are resent during a view change. */
  viewChangeRetryMs: PositiveInteger,
  /** How often a backup that lacks ops asks again (GetState). */
  repairRetryMs: PositiveInteger,
  /** How often a recovering replica asks again (Recovery). */
  recoveryRetryMs: PositiveInteger,
});

const LimitsInput = t.partial({
  /** Uncommitted ops the primary keeps in flight. */
  pipelineMax: PositiveInteger,
  /** Client requests packed into one op. */
  batchMax: PositiveInteger,
  /** Client requests queued at the primary while the pipeline is full. */
  requestQueueMax: PositiveInteger,
  /** A client request's size as JSON, in UTF-8 bytes: larger ones are refused before they are queued. */
  requestBytesMax: PositiveInteger,
  /** The bytes of client requests queued at the primary: over it, new requests are refused as busy. */
  requestQueueBytesMax: PositiveInteger,
  /** Client sessions remembered; the least recently used is evicted deterministically. */
  clientTableMax: PositiveInteger,
  /** The client table's bytes (each session's cached result as JSON, and a little more): past it, the least recently used are evicted. */
  clientTableBytesMax: PositiveInteger,
  /** Reads the primary holds while it confirms its view: past it, new reads are refused as busy. */
  readsPendingMax: PositiveInteger,
  /** Confirmation rounds for reads out at once: more answer reads sooner, each costs a message to and from every backup. */
  readRoundsMax: PositiveInteger,
  /** Log entries in one NewState message. */
  stateTransferEntriesMax: PositiveInteger,
  /** A checkpoint every this many ops; the log before it is released from memory and storage. */
  checkpointIntervalOps: PositiveInteger,
});

export const ReplicaConfigInput = t.intersection([
  t.type({
    replicaId: NonNegativeInteger,
    replicaCount: PositiveInteger,
  }),
  t.partial({
    cluster: NonNegativeInteger,
    timeouts: TimeoutsInput,
    limits: LimitsInput,
  }),
]);
export type ReplicaConfigInput = t.TypeOf<typeof ReplicaConfigInput>;

export interface Timeouts {
  readonly heartbeatMs: number;
  readonly primaryTimeoutMs: number;
  readonly prepareRetryMs: number;
  readonly viewChangeTimeoutMs: number;
  readonly viewChangeRetryMs: number;
  readonly repairRetryMs: number;
  readonly recoveryRetryMs: number;
}

export interface Limits {
  readonly pipelineMax: number;
  readonly batchMax: number;
  readonly requestQueueMax: number;
  readonly requestBytesMax: number;
  readonly requestQueueBytesMax: number;
  readonly clientTableMax: number;
  readonly clientTableBytesMax: number;
  readonly readsPendingMax: number;
  readonly readRoundsMax: number;
  readonly stateTransferEntriesMax: number;
  readonly checkpointIntervalOps: number;
}

export interface ReplicaConfig {
  readonly cluster: number;
  readonly replicaId: number;
  readonly replicaCount: number;
  readonly timeouts: Timeouts;
  readonly limits: Limits;
}

export const DEFAULT_TIMEOUTS: Timeouts = Object.freeze({
  heartbeatMs: 100,
  primaryTimeoutMs: 500,
  prepareRetryMs: 50,
  viewChangeTimeoutMs: 1000,
  viewChangeRetryMs: 100,
  repairRetryMs: 100,
  recoveryRetryMs: 100,
});

export const DEFAULT_LIMITS: Limits = Object.freeze({
  pipelineMax: 8,
  batchMax: 32,
  requestQueueMax: 1024,
  requestBytesMax: 1024 * 1024,
  requestQueueBytesMax: 64 * 1024 * 1024,
  clientTableMax: 4096,
  clientTableBytesMax: 64 * 1024 * 1024,
  readsPendingMax: 4096,
  readRoundsMax: 2,
  stateTransferEntriesMax: 64,
  checkpointIntervalOps: 1024,
});

/**
 * View changes that fail in a row double their timers (view-change.ts), at most this many
 * times: ×16. Without a cap a long outage would stretch them without bound.
 */
export const VIEW_CHANGE_BACKOFF_DOUBLINGS_MAX = 4;
const VIEW_CHANGE_BACKOFF_SCALE_MAX = 2 ** VIEW_CHANGE_BACKOFF_DOUBLINGS_MAX;

/**
 * What the code relies on between timeouts and between limits, as `config.field: ...` problems
 * (none when all hold). The defaults are checked against it when this module loads, and every
 * configuration by validateConfig.
 */
export function relationshipProblems(timeouts: Timeouts, limits: Limits): string[] {
  const problems: string[] = [];
  // An idle primary's heartbeat must reach backups before they give up on it, or every idle
  // moment deposes the primary.
  if (timeouts.heartbeatMs >= timeouts.primaryTimeoutMs) {
    problems.push(`config.timeouts.heartbeatMs: must be below primaryTimeoutMs (${timeouts.primaryTimeoutMs}), got ${timeouts.heartbeatMs}`);
  }
  // A view change must resend its messages at least once before it abandons the view (design
  // rule 4 of docs/protocol.md: nothing relies on one message arriving).
  if (timeouts.viewChangeRetryMs >= timeouts.viewChangeTimeoutMs) {
    problems.push(
      `config.timeouts.viewChangeRetryMs: must be below viewChangeTimeoutMs (${timeouts.viewChangeTimeoutMs}), got ${timeouts.viewChangeRetryMs}`,
    );
  }
  // Backed off, the view change's timers are still whole milliseconds a set-timer effect can carry.
  const backedOffMsMax = Math.floor(Number.MAX_SAFE_INTEGER / VIEW_CHANGE_BACKOFF_SCALE_MAX);
  if (timeouts.viewChangeTimeoutMs > backedOffMsMax) {
    problems.push(
      `config.timeouts.viewChangeTimeoutMs: must be at most ${backedOffMsMax}, so that its backoff (×${VIEW_CHANGE_BACKOFF_SCALE_MAX}) stays a safe integer, got ${timeouts.viewChangeTimeoutMs}`,
    );
  }
  // The primary takes a whole batch off the queue at once; a queue shorter than a batch could
  // never fill one.
  if (limits.requestQueueMax < limits.batchMax) {
    problems.push(`config.limits.requestQueueMax: must be at least batchMax (${limits.batchMax}), got ${limits.requestQueueMax}`);
  }
  // A request of the largest size allowed must fit in an empty queue, or it is refused as busy forever.
  if (limits.requestQueueBytesMax < limits.requestBytesMax) {
    problems.push(
      `config.limits.requestQueueBytesMax: must be at least requestBytesMax (${limits.requestBytesMax}), got ${limits.requestQueueBytesMax}`,
    );
  }
  return problems;
}

assert(relationshipProblems(DEFAULT_TIMEOUTS, DEFAULT_LIMITS).length === 0, () => `the defaults break ${relationshipProblems(DEFAULT_TIMEOUTS, DEFAULT_LIMITS).join('; ')}`);

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type ConfigResult = { ok: true; config: ReplicaConfig } | { ok: false; error: string };

/** Unknown fields reported in one error, at most: the rest are counted. */
const UNKNOWN_FIELDS_REPORTED_MAX = 5;

/**
 * Validates raw configuration (from a file, flags, JSON) and fills defaults.
 * A field the configuration does not know (a typo such as `pipelinMax`) is
 * refused, not ignored. Never throws, even on a hostile object (a getter or
 * a proxy trap that throws): the error names every offending field.
 */
export function validateConfig(input: unknown): ConfigResult {
  let decoded;
  let unknown: string[];
  try {
    unknown = unknownFields(input, ReplicaConfigInput, 'config');
    decoded = ReplicaConfigInput.decode(input);
  } catch (error) {
    return { ok: false, error: `config: could not be read (${describeThrown(error)})` };
  }
  const invalid = isLeft(decoded) ? [formatErrors(decoded.left, 'config')] : [];
  if (unknown.length > 0 || isLeft(decoded)) return { ok: false, error: [...summarized(unknown), ...invalid].join('; ') };
  const raw = decoded.right;
  const config: ReplicaConfig = {
    cluster: raw.cluster ?? 0,
    replicaId: raw.replicaId,
    replicaCount: raw.replicaCount,
    timeouts: { ...DEFAULT_TIMEOUTS, ...stripUndefined(raw.timeouts) },
    limits: { ...DEFAULT_LIMITS, ...stripUndefined(raw.limits) },
  };
  const problems: string[] = [];
  if (config.replicaCount > REPLICA_COUNT_MAX) {
    problems.push(`config.replicaCount: at most ${REPLICA_COUNT_MAX} replicas are supported, got ${config.replicaCount}`);
  }
  if (config.replicaId >= config.replicaCount) {
    problems.push(
      `config.replicaId: must be below config.replicaCount (${config.replicaCount}), got ${config.replicaId}`,
    );
  }
  problems.push(...relationshipProblems(config.timeouts, config.limits));
  if (problems.length > 0) return { ok: false, error: problems.join('; ') };
  return { ok: true, config: freeze(config, true) };
}

/** Like validateConfig, but throws a ConfigError: for constructors. */
export function parseConfig(input: unknown): ReplicaConfig {
  const result = validateConfig(input);
  if (!result.ok) throw new ConfigError(result.error);
  return result.config;
}

/** The fields an object codec knows, with their codecs; null for a codec that does not describe an object. */
function fieldsOf(codec: t.Mixed): Readonly<Record<string, t.Mixed>> | null {
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType) return codec.props as Record<string, t.Mixed>;
  if (codec instanceof t.ExactType || codec instanceof t.ReadonlyType) return fieldsOf(codec.type as t.Mixed);
  if (codec instanceof t.IntersectionType) {
    const members = (codec.types as t.Mixed[]).map(fieldsOf);
    return members.some((fields) => fields === null) ? null : (Object.assign({}, ...members) as Record<string, t.Mixed>);
  }
  return null;
}

/**
 * `path.key: unknown field (known: ...)` for every own key of `input`, and of
 * the objects nested in it, that `codec` does not know. io-ts ignores (or, if
 * exact, strips) such keys silently. May throw on a hostile object.
 */
function unknownFields(input: unknown, codec: t.Mixed, path: string): string[] {
  const fields = fieldsOf(codec);
  if (fields === null || typeof input !== 'object' || input === null || Array.isArray(input)) return [];
  const problems: string[] = [];
  for (const key of Object.keys(input)) {
    const field = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (field === undefined) problems.push(`${path}.${key}: unknown field (known: ${Object.keys(fields).join(', ')})`);
    else problems.push(...unknownFields((input as Record<string, unknown>)[key], field, `${path}.${key}`));
  }
  return problems;
}

function summarized(problems: readonly string[]): string[] {
  if (problems.length <= UNKNOWN_FIELDS_REPORTED_MAX) return [...problems];
  return [...problems.slice(0, UNKNOWN_FIELDS_REPORTED_MAX), `and ${problems.length - UNKNOWN_FIELDS_REPORTED_MAX} more unknown fields`];
}

/** What was thrown, as text; never throws itself (a thrown object's toString may). */
function describeThrown(error: unknown): string {
  try {
    return String(error);
  } catch {
    return typeof error;
  }
}

function stripUndefined<T extends object>(value: T | undefined): Partial<T> {
  if (value === undefined) return {};
  const out: Partial<T> = {};
  for (const [key, field] of Object.entries(value)) {
    if (field !== undefined) (out as Record<string, unknown>)[key] = field;
  }
  return out;
}
