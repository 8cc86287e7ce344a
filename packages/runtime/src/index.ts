/**
 * @vsr/runtime: the pieces the Node and browser runtimes share around the pure core. Unlike
 * @vsr/core they run over time (promises, timers), but own no clock, timer or scheduler: each
 * runtime passes its own in, so one implementation serves both.
 */
export { GroupCommit, type GroupCommitHooks, type GroupCommitStorage, type ReplicaStore } from './group-commit.js';
export { ClientCore, VsrRequestError, VsrTimeoutError, type ClientClock, type ClientCoreOptions, type ClientLink } from './client.js';
export { timedStep, type TimedStep, type TimedTelemetry } from './timed-step.js';
export { ReplyRoutes } from './reply-routes.js';
export { NamedTimers, globalTimers, type ReplicaTimers } from './named-timers.js';
