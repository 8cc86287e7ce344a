/** The one-line summary of a run: its counters, its verdicts and its trace digest. */
import type { WorldContext } from './context.js';
import type { Replicas } from './replicas.js';
import type { SimulatedOperation, SimulationSummary } from './types.js';

export function summarize(
  ctx: WorldContext,
  replicas: Replicas,
  history: readonly SimulatedOperation[],
  verdicts: { readonly linearizable: boolean; readonly converged: boolean; readonly wallMs: number },
): SimulationSummary {
  const { options, counters } = ctx;
  return {
    seed: options.seed,
    replicas: options.replicaCount,
    faults: options.faults.join(','),
    fault_classes: ctx.classes,
    requests_ok: counters.requestsOk,
    reads_direct: counters.readsDirect,
    requests_indeterminate: history.filter((operation) => operation.outcome.type === 'indeterminate').length,
    committed_ops: Math.max(...replicas.processes.map((process) => process.state.commitNumber)),
    view_changes: counters.viewsCompleted.size,
    crashes: counters.crashes,
    restarts: counters.restarts,
    wipes: counters.wipes,
    recoveries: counters.recoveries,
    storage_faults: counters.storageFaults,
    repairs: counters.repairs,
    state_transfers: counters.stateTransfers,
    checkpoints: counters.checkpoints,
    checkpoints_installed: counters.checkpointsInstalled,
    log_entries_max: counters.logEntriesMax,
    partitions: counters.partitions,
    messages_sent: counters.messagesSent,
    messages_dropped: counters.messagesDropped,
    rejected_inputs: counters.rejectedInputs,
    steps: counters.steps,
    events: counters.events,
    linearizable: verdicts.linearizable,
    converged: verdicts.converged,
    violations: ctx.recorder.violations,
    trace_digest: ctx.recorder.digest(),
    sim_ms: ctx.nowMs,
    wall_ms: verdicts.wallMs,
  };
}
