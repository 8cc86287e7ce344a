/**
 * Logging for the Node interpreter: a structured logger interface (pino's
 * shape, so a pino logger can be passed as it is) and the refusal counter
 * every boundary reports refused input to.
 *
 * Refused input comes from outside, so an attacker decides how much of it
 * there is: refusals are counted by reason (for metrics), and logged at
 * most once per reason per interval, each line saying how many like it were
 * left out since the last.
 */

/** The subset of pino's logger API the interpreter uses: `logger.info({ fields }, 'message')`. */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const ignore = (): void => {};
/** A logger that drops everything. */
export const silentLogger: Logger = Object.freeze({ debug: ignore, info: ignore, warn: ignore, error: ignore });

/** A logger that writes `message {fields}` lines, for tests and quick scripts. */
export function lineLogger(write: (line: string) => void): Logger {
  const at = (level: string) => (fields: object, message: string) => write(`${level} ${message} ${JSON.stringify(fields)}`);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export interface RefusalsOptions {
  readonly logger?: Logger;
  /** At most one line per reason per this interval (default 1 s). */
  readonly intervalMs?: number;
  /** Milliseconds on some clock (default `Date.now`). */
  readonly nowMs?: () => number;
}

/** Counts refused inputs by reason and logs them, rate-limited per reason. */
export class Refusals {
  private readonly counts = new Map<string, number>();
  private readonly lastLoggedMs = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly nowMs: () => number;

  constructor(options: RefusalsOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.intervalMs = options.intervalMs ?? 1_000;
    this.nowMs = options.nowMs ?? Date.now;
  }

  /**
   * Records one refusal. `reason` is short and stable (a metric label: 'auth-failed', 'too-deep');
   * `detail` says what was wrong in words. Never echoes secrets: callers pass none.
   */
  refuse(reason: string, detail: string, fields: object = {}, level: 'warn' | 'debug' = 'warn'): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
    const now = this.nowMs();
    const last = this.lastLoggedMs.get(reason);
    if (last !== undefined && now - last < this.intervalMs) {
      this.suppressed.set(reason, (this.suppressed.get(reason) ?? 0) + 1);
      return;
    }
    const suppressed = this.suppressed.get(reason) ?? 0;
    this.suppressed.delete(reason);
    this.lastLoggedMs.set(reason, now);
    this.logger[level]({ ...fields, refused: reason, ...(suppressed > 0 ? { suppressedSinceLast: suppressed } : {}) }, `refused: ${detail}`);
  }

  /** Refusals so far, by reason. */
  byReason(): ReadonlyMap<string, number> {
    return this.counts;
  }
}
