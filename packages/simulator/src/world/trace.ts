/**
 * What a run leaves behind besides its verdict: the trace digest (two 32-bit FNV-1a lanes over
 * the world's own event text, so the same seed on the same code gives the same digest), the
 * trace events kept for --trace and --html, and the violations found.
 */
import type { TraceEvent } from './types.js';

export class Recorder {
  readonly trace: TraceEvent[] = [];
  readonly violations: string[] = [];
  private digestA = 0x811c9dc5;
  private digestB = 0x01000193;

  constructor(
    readonly tracing: boolean,
    private readonly clock: { readonly nowMs: number },
  ) {}

  /** Folds one event into the trace digest. */
  record(text: string): void {
    const nowMs = this.clock.nowMs;
    let a = this.digestA ^ nowMs;
    let b = this.digestB ^ (nowMs >>> 7);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x01000197);
    }
    this.digestA = a >>> 0;
    this.digestB = b >>> 0;
  }

  /** Keeps a trace event, when tracing (the caller builds it only then, to keep untraced runs fast). */
  push(event: TraceEvent): void {
    this.trace.push(event);
  }

  violation(message: string): void {
    this.violations.push(message);
    if (this.tracing) this.trace.push({ atMs: this.clock.nowMs, kind: 'violation', message });
  }

  digest(): string {
    return this.digestA.toString(16).padStart(8, '0') + this.digestB.toString(16).padStart(8, '0');
  }
}

/** A short stable digest of any JSON value (FNV-1a, two lanes), for comparing results and snapshots. */
export function digestJson(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000197);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}
