/**
 * Maelstrom's error codes (doc/protocol.md, "Errors"), the ones this node sends. A definite
 * error says the operation did not happen and never will; an indefinite one (`crash`) says the
 * node does not know, and Maelstrom records the operation as `:info`.
 */
export const ErrorCode = {
  /** Definite: the node is not ready (not initialised) or cannot take the operation now; it was never executed. */
  temporarilyUnavailable: 11,
  /** Definite: a request this node cannot read (missing or ill-typed fields, a key or value over its bound). */
  malformedRequest: 12,
  /** Indefinite: the operation may or may not have taken effect. */
  crash: 13,
  /** Definite: an operation type (or option) this node does not support. */
  notSupported: 10,
  /** Definite: a read or compare-and-set of a key that holds nothing. */
  keyDoesNotExist: 20,
  /** Definite: a compare-and-set whose `from` is not the key's value. */
  preconditionFailed: 22,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Whether Maelstrom reads an error with this code as "it did not happen". */
export function isDefinite(code: number): boolean {
  return code !== ErrorCode.crash && code !== 0;
}

/** The body of an error reply. */
export function errorBody(code: ErrorCode, text: string): { type: 'error'; code: ErrorCode; text: string } {
  return { type: 'error', code, text };
}
