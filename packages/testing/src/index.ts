export { Cluster, describeEnvelope, describeReply } from './cluster.js';
export { SafetyMonitor, SafetyViolation, entryDigest } from './monitor.js';
export type { ClusterOptions, Envelope, ReceivedReply } from './cluster.js';
export { recorderMachine, type RecorderState } from './recorder.js';
export { actionArbitrary, scheduleArbitrary, runSchedule, converged } from './schedule.js';
export type { Action, ScheduleOptions, ScheduleOutcome } from './schedule.js';
export { MemoryDisk, type StorageEffect } from './disk.js';
export { BlockedLinks } from './blocked-links.js';
export { ScenarioError, ScenarioRunner, formatScenario, parseScenario, runScenario, runScenarioFile, type ScenarioBlock, type ScenarioResult } from './scenario.js';
