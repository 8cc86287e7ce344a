/**
 * The page's client history: every operation its clients call, with call and
 * return times on the page's clock, in the simulator's `HistoryOperation`
 * shape, so the tests can hand it to the project's linearizability checker
 * and the diagram can draw it. An operation whose outcome the client never
 * learned (a timeout, a closed page) stays indeterminate: it may still take
 * effect, and the checker treats it so.
 */
import type { KvOperation, KvResult } from '@vsr/kv';
import type { HistoryOperation } from '@vsr/simulator/diagram';

/** Anything that sends one kv operation and resolves with its result. */
export type KvRequest = (operation: KvOperation) => Promise<KvResult>;

export class ClientHistory {
  private readonly operations: HistoryOperation[] = [];
  private nextId = 1;

  constructor(private readonly nowMs: () => number) {}

  /**
   * Calls `request` and records the call; resolves with the result, or
   * rejects with the client's error after recording the operation as
   * indeterminate.
   */
  async call(clientId: string, operation: KvOperation, request: KvRequest): Promise<KvResult> {
    const entry: HistoryOperation = { id: this.nextId++, clientId, operation, callMs: this.nowMs(), returnMs: null, outcome: { type: 'indeterminate' } };
    this.operations.push(entry);
    const result = await request(operation);
    entry.returnMs = Math.max(entry.callMs, this.nowMs());
    entry.outcome = { type: 'ok', result };
    return result;
  }

  /** Every operation so far (a copy, safe to send across page.evaluate). */
  all(): HistoryOperation[] {
    return this.operations.map((operation) => ({ ...operation }));
  }

  /** The operations that overlap [fromMs, ∞), for the live diagram. */
  since(fromMs: number): HistoryOperation[] {
    return this.operations.filter((operation) => (operation.returnMs ?? Infinity) >= fromMs);
  }
}
