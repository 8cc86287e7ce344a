/**
 * The harness's history, with Jepsen's semantics: each operation is an `invoke` followed by
 * `ok` (it happened, with this result), `fail` (it did not happen: a definite error), or
 * `info` (unknown: an indefinite error, or no answer in time), or nothing at all if the run
 * ended first (unknown too). Values follow Maelstrom's lin-kv: a read is `[key, value]`, a
 * write `[key, value]`, a cas `[key, [from, to]]`.
 *
 * For the project's checker (`checkHistory` with `kvModel` of `@vsr/simulator`), operations
 * become `@vsr/kv` operations on the keys' and values' JSON text, the same encoding the node
 * uses. A definite error that is an observation stays in the history as the result it
 * reports: a read or cas of a missing key (20) as `not-found`, a cas whose `from` did not match
 * (22) as `precondition-failed`; the checker then holds the node to them too. Other definite
 * errors (11, 10, 12) are left out, as Jepsen leaves out `fail`s: they did not happen.
 */
import type { KvOperation } from '@vsr/kv';
import { checkHistory, kvModel, type CheckResult, type KvOutput, type ModelOperation } from '@vsr/simulator';
import { ErrorCode } from '../codes.js';
import { canonicalJson, type LinKvKind } from '../kv-ops.js';

export interface HistoryEvent {
  /** The client (a Jepsen process). */
  readonly process: string;
  readonly type: 'invoke' | 'ok' | 'fail' | 'info';
  readonly f: LinKvKind;
  readonly value: readonly [key: unknown, argument: unknown];
  /** Milliseconds since the run started. */
  readonly timeMs: number;
  /** For `fail` and `info` answered with an error: its code and text. */
  readonly error?: { readonly code: number; readonly text: string };
}

export type KvHistoryOperation = ModelOperation<KvOperation, KvOutput>;

/** The operation an invocation asks for, on the JSON text of its key and values. */
function inputOf(invoke: HistoryEvent): KvOperation {
  const [rawKey, argument] = invoke.value;
  const key = canonicalJson(rawKey);
  switch (invoke.f) {
    case 'read':
      return { type: 'read', key };
    case 'write':
      return { type: 'write', key, value: canonicalJson(argument) };
    case 'cas': {
      const [from, to] = Array.isArray(argument) ? (argument as unknown[]) : [undefined, undefined];
      return { type: 'cas', key, expected: canonicalJson(from), value: canonicalJson(to) };
    }
  }
}

/** What a completion tells of the result; `null` for a completion that leaves the op out (it did not happen). */
function outputOf(completion: HistoryEvent): KvOutput | undefined | null {
  if (completion.type === 'info') return undefined;
  if (completion.type === 'ok') return completion.f === 'read' ? { ok: true, value: canonicalJson(completion.value[1]) } : { ok: true };
  const code = completion.error?.code;
  if (code === ErrorCode.keyDoesNotExist && completion.f !== 'write') return { ok: false, error: 'not-found' };
  if (code === ErrorCode.preconditionFailed && completion.f === 'cas') return { ok: false, error: 'precondition-failed' };
  return null;
}

/** Pairs each invocation with its completion (a process has one operation at a time) and reads them as checker operations. */
export function toModelOperations(events: readonly HistoryEvent[]): KvHistoryOperation[] {
  const pending = new Map<string, { readonly id: number; readonly invoke: HistoryEvent }>();
  const operations: KvHistoryOperation[] = [];
  let nextId = 0;
  for (const event of events) {
    if (event.type === 'invoke') {
      const open = pending.get(event.process);
      if (open !== undefined) throw new Error(`history: ${event.process} invoked an operation at ${event.timeMs} ms while its operation of ${open.invoke.timeMs} ms was open`);
      pending.set(event.process, { id: nextId++, invoke: event });
      continue;
    }
    const open = pending.get(event.process);
    if (open === undefined) throw new Error(`history: a ${event.type} of ${event.process} at ${event.timeMs} ms without an invocation`);
    pending.delete(event.process);
    const output = outputOf(event);
    if (output === null) continue;
    const returnMs = output === undefined ? null : event.timeMs;
    operations.push({ id: open.id, clientId: event.process, input: inputOf(open.invoke), callMs: open.invoke.timeMs, returnMs, output });
  }
  for (const { id, invoke } of pending.values()) {
    operations.push({ id, clientId: invoke.process, input: inputOf(invoke), callMs: invoke.timeMs, returnMs: null, output: undefined });
  }
  return operations.sort((a, b) => a.id - b.id);
}

export interface HistoryCheck {
  readonly operations: readonly KvHistoryOperation[];
  readonly result: CheckResult;
}

/** Checks a history for linearizability with the project's checker and the key-value model. */
export function checkEvents(events: readonly HistoryEvent[], stepsMax?: number): HistoryCheck {
  const operations = toModelOperations(events);
  return { operations, result: checkHistory(kvModel, operations, stepsMax === undefined ? {} : { stepsMax }) };
}

/** Counts by completion: ok per kind, fail per code, info. */
export function countEvents(events: readonly HistoryEvent[]): { ok: Record<LinKvKind, number>; fail: Record<string, number>; info: number; invoked: number } {
  const counts = { ok: { read: 0, write: 0, cas: 0 }, fail: {} as Record<string, number>, info: 0, invoked: 0 };
  for (const event of events) {
    if (event.type === 'invoke') counts.invoked++;
    else if (event.type === 'ok') counts.ok[event.f]++;
    else if (event.type === 'info') counts.info++;
    else {
      const code = String(event.error?.code ?? '?');
      counts.fail[code] = (counts.fail[code] ?? 0) + 1;
    }
  }
  return counts;
}
