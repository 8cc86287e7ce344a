/**
 * Catches a machine that is not deterministic (one that reads the clock or Math.random in
 * `apply`): every replica executes the same op at an op number, so every execution must give
 * the same result, and the same state. The first execution of each op number leaves a digest
 * of its result (and, every `SNAPSHOT_EVERY_OPS` ops, of the state's snapshot); a later
 * execution that differs is reported, naming the op number.
 */
import type { StateMachine } from '@vsr/core';
import { digestJson } from './trace.js';

/** Digesting a snapshot costs O(state), so only some op numbers pay it. */
const SNAPSHOT_EVERY_OPS = 16;

export class DeterminismWatch {
  private readonly seen = new Map<number, string>();
  /** The first divergence found, if any. */
  divergence: string | null = null;

  /** The machine, with each execution compared against the first at its op number. */
  watch<S, Op, R>(machine: StateMachine<S, Op, R>): StateMachine<S, Op, R> {
    return {
      ...machine,
      apply: (state, operation, context) => {
        const [next, result] = machine.apply(state, operation, context);
        const request = `${context.clientId}#${context.requestNumber}`;
        const snapshot = context.opNumber % SNAPSHOT_EVERY_OPS === 0 ? digestJson(machine.snapshot(next)) : '-';
        this.compare(context.opNumber, `${request} result ${digestJson(result)} state ${snapshot}`, request);
        return [next, result];
      },
    };
  }

  private compare(opNumber: number, text: string, request: string): void {
    const first = this.seen.get(opNumber);
    if (first === undefined) {
      this.seen.set(opNumber, text);
      return;
    }
    // A different request at this op number is the agreement checker's to report, not the machine's.
    if (first === text || !first.startsWith(`${request} `) || this.divergence !== null) return;
    const what = first.split(' state ')[0] === text.split(' state ')[0] ? 'state' : 'result';
    this.divergence =
      `non-deterministic machine: op ${opNumber} (${request}) gave a different ${what} on two executions ` +
      `(${first} against ${text}); apply must depend only on the state, the operation and its context`;
  }
}
