/**
 * Assertions for the core, in TigerBeetle's style: state what must hold, and
 * stop at once when it does not. A failed assertion is a bug in the core,
 * never a reaction to input (untrusted input is refused with a reason, by
 * `ctx.reject`), so it throws an `InvariantError` that the interpreter treats
 * as fatal: the replica stops rather than run on from a state it cannot
 * explain.
 */

export class InvariantError extends Error {
  constructor(message: string) {
    super(`invariant: ${message}`);
    this.name = 'InvariantError';
  }
}

/** Asserts `condition`; `message` says what was expected (a function, to build it only on failure). */
export function assert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'string' ? message : message());
}

/**
 * The value, which must be there: `what` names it in the failure ("the view change of a replica
 * in view-change status"); a function, in loops, so that the text is built only on failure.
 */
export function defined<T>(value: T | null | undefined, what: string | (() => string)): T {
  if (value === null || value === undefined) throw new InvariantError(`expected ${typeof what === 'string' ? what : what()}, found ${String(value)}`);
  return value;
}
