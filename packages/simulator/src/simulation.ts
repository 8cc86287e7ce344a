/**
 * `simulate`: one seeded world (src/world/) running the user's machine, workload and model, or
 * the key-value defaults. The world's modules: `world.ts` (the event loop), `replicas.ts`
 * (steps and the effect contract over `MemoryDisk`), `network.ts`, `nemesis.ts` (faults),
 * `clients.ts`, `liveness.ts` (liveness, convergence, budgets), `determinism.ts`,
 * `model-check.ts` (the checker adapter), `trace.ts` and `summary.ts`.
 */
import type { KvOperation, KvResult } from '@vsr/kv';
import { World } from './world/world.js';
import type { SimulationOptions, SimulationResult } from './world/types.js';

export type {
  InterpreterBugs,
  ScheduledFault,
  SimulatedOperation,
  SimulationOptions,
  SimulationResult,
  SimulationSummary,
  TraceEvent,
} from './world/types.js';

/**
 * Runs one seed. Without a machine, workload and model: the key-value machine, its workload
 * and its linearizability checker; with them, the user's service (all three or none).
 */
export function simulate<Op = KvOperation, R = KvResult, State = unknown>(options: SimulationOptions<Op, R, State>): SimulationResult<Op, R> {
  return new World(options).run() as SimulationResult<Op, R>;
}
