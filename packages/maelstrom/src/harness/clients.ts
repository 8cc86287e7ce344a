/**
 * lin-kv clients for the harness, as Maelstrom runs them: each is bound to one node, issues
 * one random read, write or cas at a time on a few keys, waits for the answer up to a timeout,
 * and records the operation in the history (history.ts): `ok`, `fail` for a definite error,
 * `info` for an indefinite one or no answer in time.
 */
import type { Random } from '@vsr/simulator';
import { isDefinite } from '../codes.js';
import type { LinKvKind } from '../kv-ops.js';
import type { HistoryEvent } from './history.js';

export interface ClientOptions {
  readonly keyCount: number;
  /** Values written are 0..valueMax. */
  readonly valueMax: number;
  /** How long the client waits for an answer (Maelstrom's clients wait a few seconds). */
  readonly timeoutMs: number;
}

export type Send = (src: string, dest: string, body: Record<string, unknown>) => void;

interface Call {
  readonly resolve: (body: Record<string, unknown> | null) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

export class LinKvClient {
  private messageCounter = 0;
  private readonly calls = new Map<number, Call>();

  constructor(
    readonly name: string,
    readonly node: string,
    private readonly send: Send,
    private readonly record: (event: HistoryEvent) => void,
    private readonly random: Random,
    private readonly nowMs: () => number,
    private readonly options: ClientOptions,
  ) {}

  /** A message for this client: the answer to one of its calls (late answers are dropped). */
  receive(body: Record<string, unknown>): void {
    const inReplyTo = body.in_reply_to;
    if (typeof inReplyTo !== 'number') return;
    const call = this.calls.get(inReplyTo);
    if (call === undefined) return;
    this.calls.delete(inReplyTo);
    clearTimeout(call.timer);
    call.resolve(body);
  }

  /** Sends a request and resolves with the answer's body, or null after the timeout. */
  call(body: Record<string, unknown>): Promise<Record<string, unknown> | null> {
    const msgId = ++this.messageCounter;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.calls.delete(msgId);
        resolve(null);
      }, this.options.timeoutMs);
      this.calls.set(msgId, { resolve, timer });
      this.send(this.name, this.node, { ...body, msg_id: msgId });
    });
  }

  /** Runs random operations, one at a time, until `untilMs` (on the harness's clock). */
  async runUntil(untilMs: number): Promise<void> {
    while (this.nowMs() < untilMs) await this.operate(this.nextOperation());
  }

  /** One operation, recorded: its invocation, then its completion. */
  async operate(operation: { readonly f: LinKvKind; readonly key: number; readonly argument: unknown }): Promise<HistoryEvent> {
    const { f, key, argument } = operation;
    const request = f === 'read' ? { type: 'read', key } : f === 'write' ? { type: 'write', key, value: argument } : { type: 'cas', key, from: (argument as number[])[0], to: (argument as number[])[1] };
    this.record({ process: this.name, type: 'invoke', f, value: [key, f === 'read' ? null : argument], timeMs: this.nowMs() });
    const answer = await this.call(request);
    const completion = completionOf(this.name, f, key, argument, answer, this.nowMs());
    this.record(completion);
    return completion;
  }

  private nextOperation(): { f: LinKvKind; key: number; argument: unknown } {
    const key = this.random.int(0, this.options.keyCount - 1);
    const roll = this.random.float();
    const value = () => this.random.int(0, this.options.valueMax);
    if (roll < 0.4) return { f: 'read', key, argument: null };
    if (roll < 0.7) return { f: 'write', key, argument: value() };
    return { f: 'cas', key, argument: [value(), value()] };
  }
}

function completionOf(process: string, f: LinKvKind, key: number, argument: unknown, answer: Record<string, unknown> | null, timeMs: number): HistoryEvent {
  if (answer === null) return { process, type: 'info', f, value: [key, argument], timeMs };
  if (answer.type === `${f}_ok`) return { process, type: 'ok', f, value: [key, f === 'read' ? answer.value : argument], timeMs };
  const code = typeof answer.code === 'number' ? answer.code : 13;
  const error = { code, text: typeof answer.text === 'string' ? answer.text : '' };
  return { process, type: answer.type === 'error' && isDefinite(code) ? 'fail' : 'info', f, value: [key, argument], timeMs, error };
}
