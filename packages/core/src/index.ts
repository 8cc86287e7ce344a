/**
 * @vsr/core: Viewstamped Replication as a pure reducer.
 *
 *   const s0 = initialState(config, machine);
 *   const [s1, effects] = step(s0, { kind: 'boot', storage: null });
 *
 * See docs/architecture.md for the effect contract interpreters must keep.
 */
export { initialState, step } from './replica.js';
export { describe, describeEntry, type DescribeOptions } from './describe.js';
export {
  validateConfig,
  parseConfig,
  ConfigError,
  ReplicaConfigInput,
  DEFAULT_LIMITS,
  DEFAULT_TIMEOUTS,
  REPLICA_COUNT_MAX,
  type ReplicaConfig,
  type Timeouts,
  type Limits,
  type ConfigResult,
} from './config.js';
export * from './messages.js';
export { routeAfterRedirect, type Redirect, type ClientRouting } from './client-routing.js';
export {
  Event,
  Effect,
  BootStorage,
  TimerName,
  Telemetry,
  TelemetryData,
  TELEMETRY_NAMES,
  TelemetryPayloads,
  type TelemetryName,
  type TelemetryPayload,
} from './effects.js';
export { faultsTolerated, quorumSize, primaryOf, addVote, hasQuorum, type VoteSet } from './quorum.js';
export {
  Opaque,
  type ApplyContext,
  type StateMachine,
  type MachineReads,
  type PendingRead,
  type PrimaryReads,
  type ReplicaState,
  type ClientSession,
  type Status,
  type PrimaryState,
  type ViewChangeState,
  type PipelineOp,
} from './state.js';
export { Log } from './log.js';
export { ClientTable, classifyRequest, type RequestVerdict } from './client-table.js';
export { NonNegativeInteger, PositiveInteger, ClientId, readClientId, CLIENT_ID_LENGTH_MAX, ViewNumber, VIEW_NUMBER_MAX, formatErrors, decodeWith } from './codec.js';
export { applyLogEffect, applyStorageEffect, type StoredLog, type LogEffect, type StoreImage } from './stored-log.js';
export { EffectBarrier } from './effect-barrier.js';
export { measureJson, jsonDepthWithin, JSON_DEPTH_MAX, type JsonMeasure } from './json-bounds.js';
export { OPERATION_DEPTH_MAX } from './request-bounds.js';
export { checkReplicaInvariants } from './invariants.js';
export { InvariantError } from './assert.js';
export { observe, type ReplicaView } from './observe.js';
