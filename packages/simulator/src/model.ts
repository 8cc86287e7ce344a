/**
 * What a user gives the simulator and the checker to test their own replicated service: a
 * model of its sequential specification (checked for linearizability, in the style of
 * Porcupine's `Model`) and a workload (what each client asks next). The state machine itself
 * is the core's `StateMachine`.
 */
import type { Random } from './random.js';

/**
 * One operation of a history, as a client saw it. `output` is what the client learned: it may
 * be partial (a failed compare-and-set that records only "failed"): the model's `step` decides
 * what an output allows. An indeterminate operation (the client never learned the outcome)
 * has `returnMs: null` and `output: undefined`: it may have taken effect at any instant after
 * `callMs`, or never.
 */
export interface ModelOperation<Input, Output> {
  /** Unique within the history. */
  readonly id: number;
  readonly clientId: string;
  readonly input: Input;
  readonly callMs: number;
  readonly returnMs: number | null;
  readonly output: Output | undefined;
}

/**
 * A sequential specification. `step` may be nondeterministic: it returns every state the model
 * can be in after `input` took effect in `state` and produced something consistent with
 * `output` (`undefined`: the output is unknown, anything goes). An empty list means the
 * operation cannot take effect there with that output.
 */
export interface Model<State, Input, Output> {
  readonly name: string;
  init(): State;
  step(state: State, input: Input, output: Output | undefined): readonly State[];
  /**
   * Splits a history into independent parts checked separately (per key, for a key-value
   * store): a history is linearizable iff every part is. Default: one part.
   */
  partition?(history: readonly ModelOperation<Input, Output>[]): ReadonlyArray<readonly ModelOperation<Input, Output>[]>;
  /** A key for memoisation: equal states have equal keys, and unequal states unequal keys. */
  stateKey(state: State): string;
  describeOperation?(operation: ModelOperation<Input, Output>): string;
  describeState?(state: State): string;
}

/** What a workload knows of one client when it chooses that client's next operation. */
export interface ClientView<Operation, Result> {
  /** 0 .. clientCount - 1. */
  readonly clientIndex: number;
  /** Operations this client completed so far (with a known result). */
  readonly completed: number;
  /** This client's last completed operation and its result, if any. */
  readonly lastOperation: Operation | undefined;
  readonly lastResult: Result | undefined;
}

/**
 * A seeded workload: what each client asks next. It must draw randomness only from `random`
 * (so a seed replays exactly). `null` means "nothing now": the client stays idle for a while,
 * which gives runs the idle periods in which a healthy cluster must not change views.
 */
export interface Workload<Operation, Result> {
  readonly name: string;
  next(random: Random, client: ClientView<Operation, Result>): Operation | null;
}
