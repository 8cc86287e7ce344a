export {
  simulate,
  type SimulatedOperation,
  type SimulationOptions,
  type SimulationResult,
  type SimulationSummary,
  type TraceEvent,
  type InterpreterBugs,
} from './simulation.js';
export { kvWorkload } from './workload.js';
export { checkModelHistory, toModelOperations } from './world/model-check.js';
export { FAULT_NAMES, FAULT_CLASSES, parseFaults, faultRates, type FaultName, type FaultClass, type FaultRates } from './faults.js';
export { Random } from './random.js';
export { countedMachine, countedKvMachine, type Counted, type CountedState } from './machine.js';
export {
  checkLinearizability,
  type HistoryOperation,
  type LinearizabilityResult,
} from './linearizability.js';
export { renderReport, type ReportOptions } from './report.js';
export { main as cliMain, parseArgs, table, replayCommand, UsageError, type CliOptions } from './cli.js';
export { faultScheduleArbitrary, workloadArbitrary, type ScheduleArbitraryOptions, type WorkloadArbitraryOptions } from './arbitraries.js';
export type { ScheduledFault } from './simulation.js';
// The model-generic linearizability checker, its built-in models and history formats.
export { checkHistory, CHECK_STEPS_MAX_DEFAULT, type CheckOptions, type CheckResult } from './check/search.js';
export { registerModel, registerCodec, type RegisterInput, type RegisterOutput, type RegisterValue } from './check/register-model.js';
export { kvModel, kvCodec, type KvOutput } from './check/kv-model.js';
export { queueModel, queueCodec, type QueueInput, type QueueOutput, type QueueValue } from './check/queue-model.js';
export { HistoryError, type HistoryCodec, type JepsenOperation } from './check/codec.js';
export { parseEdnHistory } from './check/history-edn.js';
export { parseJsonHistory } from './check/history-json.js';
export { renderHistoryHtml } from './check/render.js';
export { fromSimulatorHistory } from './check/from-simulator.js';
export type { Model, ModelOperation, Workload, ClientView } from './model.js';
