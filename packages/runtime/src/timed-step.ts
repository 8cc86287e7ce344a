/**
 * One step of the reducer, timed by the runtime's clock: the reducer has none, so the time it
 * took to apply an op (`vsr.operation.applied`) can only be measured around the step that
 * carries it. Both runtimes publish that event with the duration of its step.
 */
import { step, type Effect, type Event, type ReplicaState, type Telemetry } from '@vsr/core';

export interface TimedStep {
  readonly state: ReplicaState;
  readonly effects: readonly Effect[];
  /** Wall time of the `step` call, in milliseconds (fractional). */
  readonly stepDurationMs: number;
}

/** `step(state, event)`, timed with `nowMs` (a monotonic clock: `performance.now`). Throws what `step` throws. */
export function timedStep(state: ReplicaState, event: Event, nowMs: () => number): TimedStep {
  const startedMs = nowMs();
  const [next, effects] = step(state, event);
  return { state: next, effects, stepDurationMs: Math.max(0, nowMs() - startedMs) };
}

/** `vsr.operation.applied` as a runtime publishes it: the core's event, with the duration of the step that applied the op. */
export interface TimedTelemetry extends Telemetry {
  readonly stepDurationMs: number;
}
