/**
 * The reducer's named timers on real timers: setting one replaces the timer of that name. The
 * one implementation for the Node runtime, the browser's and the Maelstrom node; the timer
 * functions are passed in (the global ones by default, a test's own otherwise).
 */
import type { TimerName } from '@vsr/core';

/** The timer functions a replica uses (default: the global ones; a test may pass its own). */
export interface ReplicaTimers {
  setTimeout(fire: () => void, afterMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const globalTimers: ReplicaTimers = {
  setTimeout: (fire, afterMs) => globalThis.setTimeout(fire, afterMs),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

export class NamedTimers {
  private readonly handles = new Map<TimerName, unknown>();

  constructor(private readonly timers: ReplicaTimers) {}

  set(timer: TimerName, afterMs: number, fire: () => void): void {
    this.cancel(timer);
    this.handles.set(
      timer,
      this.timers.setTimeout(() => {
        this.handles.delete(timer);
        fire();
      }, afterMs),
    );
  }

  cancel(timer: TimerName): void {
    if (!this.handles.has(timer)) return;
    this.timers.clearTimeout(this.handles.get(timer));
    this.handles.delete(timer);
  }

  stop(): void {
    for (const handle of this.handles.values()) this.timers.clearTimeout(handle);
    this.handles.clear();
  }
}
