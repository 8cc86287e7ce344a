export { simulate, type SimulationOptions, type SimulationResult, type SimulationSummary, type TraceEvent, type InterpreterBugs } from './simulation.js';
export { FAULT_NAMES, FAULT_CLASSES, parseFaults, faultRates, type FaultName, type FaultClass, type FaultRates } from './faults.js';
export { Random } from './random.js';
export { countedKvMachine, type CountedState } from './machine.js';
export {
  checkLinearizability,
  type HistoryOperation,
  type LinearizabilityResult,
} from './linearizability.js';
export { renderReport, type ReportOptions } from './report.js';
export { main as cliMain, parseArgs, table, replayCommand, UsageError, type CliOptions } from './cli.js';
export { faultScheduleArbitrary, workloadArbitrary, type ScheduleArbitraryOptions, type WorkloadArbitraryOptions } from './arbitraries.js';
export type { ScheduledFault } from './simulation.js';
