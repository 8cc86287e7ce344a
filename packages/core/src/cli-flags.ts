/**
 * Command-line flags shared by the workspace's command-line tools (`vsr-sim`,
 * `vsr-kv`, `bench:kv`): one usage error type, which their entry points turn
 * into exit status 2 with the usage text, and one reading of an integer flag.
 * It lives in the core because it is the one package every tool already
 * depends on, as a separate entry point (`@vsr/core/cli-flags`) so the
 * reducer's own API does not carry it; it is pure like the rest of the core.
 */

/** A bad command line: the message says which flag and why (empty: the user asked for the usage text). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface IntegerFlagBounds {
  readonly min: number;
  /** Default: the largest safe integer. */
  readonly max?: number;
  /** The value when the flag is absent; without one, the flag is required. */
  readonly fallback?: number;
}

/**
 * The integer `text` (the value given for `flag`), within the bounds: decimal
 * digits with an optional minus sign, nothing else (no spaces, exponents or
 * hexadecimal, so a typo is refused rather than read as another number).
 */
export function integerFlag(text: string | undefined, flag: string, bounds: IntegerFlagBounds): number {
  const { min, max = Number.MAX_SAFE_INTEGER, fallback } = bounds;
  if (text === undefined) {
    if (fallback === undefined) throw new UsageError(`${flag} is required`);
    return fallback;
  }
  if (!/^-?\d+$/.test(text)) throw new UsageError(`${flag}: expected an integer, got '${text}'`);
  const value = Number(text);
  if (value < min || value > max) {
    // Without a maximum, only the lower bound is the user's to know of, unless the value is past any safe integer.
    const range = bounds.max !== undefined ? `between ${min} and ${max}` : value < min ? `at least ${min}` : `at most ${max}`;
    throw new UsageError(`${flag}: must be ${range}, got ${value}`);
  }
  return value;
}
