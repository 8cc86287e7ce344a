/**
 * The node's log: plain lines on stderr (stdout carries Maelstrom messages only). Refused input
 * is rate-limited, so a flood of bad lines cannot flood the log: at most `refusalsPerSecondMax`
 * lines a second, and the next line that gets through says how many were left out.
 */
export interface NodeLog {
  /** A line about the node's life: init, status and view changes, a fatal error. */
  info(text: string): void;
  /** A refused input: what it was and why. */
  refuse(text: string): void;
}

export interface StderrLogOptions {
  readonly write: (line: string) => void;
  readonly nowMs: () => number;
  /** The name lines start with (the node id once known). */
  readonly name: () => string;
  readonly refusalsPerSecondMax?: number;
}

export class LineLog implements NodeLog {
  private windowStartMs = Number.NEGATIVE_INFINITY;
  private refusalsInWindow = 0;
  private refusalsLeftOut = 0;
  private readonly refusalsPerSecondMax: number;

  constructor(private readonly options: StderrLogOptions) {
    this.refusalsPerSecondMax = options.refusalsPerSecondMax ?? 50;
  }

  info(text: string): void {
    this.options.write(`${this.options.name()} ${text}\n`);
  }

  refuse(text: string): void {
    const nowMs = this.options.nowMs();
    if (nowMs - this.windowStartMs >= 1_000) {
      this.windowStartMs = nowMs;
      this.refusalsInWindow = 0;
    }
    if (this.refusalsInWindow >= this.refusalsPerSecondMax) {
      this.refusalsLeftOut++;
      return;
    }
    this.refusalsInWindow++;
    const leftOut = this.refusalsLeftOut === 0 ? '' : ` (${this.refusalsLeftOut} earlier refusals not logged)`;
    this.refusalsLeftOut = 0;
    this.options.write(`${this.options.name()} refused: ${text}${leftOut}\n`);
  }
}
