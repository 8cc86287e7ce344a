/**
 * How a built-in model's operations are read from history files: from the JSON format's
 * `input`/`output` objects, and from Jepsen's `:f`/`:value`. Both read untrusted input:
 * every decoder refuses what it does not understand with a `HistoryError` saying what is wrong.
 */
import type { Model } from '../model.js';
import type { EdnValue } from './edn.js';

/** A history file that cannot be read: the message says where and what is wrong. */
export class HistoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HistoryError';
  }
}

/** One Jepsen operation: its `:f`, the invocation's `:value`, and the completion's if it completed `:ok`. */
export interface JepsenOperation {
  readonly f: string;
  readonly invokeValue: EdnValue;
  /** Undefined for an indeterminate op (`:info`, or no completion). */
  readonly okValue?: EdnValue;
}

export interface HistoryCodec<Input, Output> {
  // The state type is the model's own business; a codec only needs to hand the model on.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly model: Model<any, Input, Output>;
  /** Reads a JSON `input`; throws a HistoryError naming what is wrong. */
  decodeInput(json: unknown): Input;
  /** Reads a JSON `output` of an op with that input; throws a HistoryError. */
  decodeOutput(input: Input, json: unknown): Output;
  /** Reads a Jepsen op; throws a HistoryError. */
  fromJepsen(operation: JepsenOperation): { input: Input; output: Output | undefined };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Refuses fields other than `allowed`, so a typo is not silently taken as "unknown". */
export function onlyFields(record: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const field of Object.keys(record)) {
    if (!allowed.includes(field)) throw new HistoryError(`${what}: unexpected field '${field}' (allowed: ${allowed.join(', ')})`);
  }
}

export function describeJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}
