/**
 * Writers for the checker's two history formats, the inverses of `history-json.ts` and
 * `history-edn.ts`: what the simulator exports (`--history-json`, `--history-edn`) reads back
 * through `npm run lincheck` as the same history.
 *
 * JSON is the model's own `input`/`output`, so one writer serves every model. EDN is Jepsen's
 * form, which each model spells its own way; `kvToJepsen` spells the key-value model's, as
 * `kvCodec.fromJepsen` reads it.
 */
import type { KvOperation } from '@vsr/kv';
import type { ModelOperation } from '../model.js';
import type { Keyword, EdnValue } from './edn.js';
import type { KvOutput } from './kv-model.js';

/** The JSON format: one operation per line inside an array; an unknown output is left out. */
export function writeJsonHistory<Input, Output>(history: readonly ModelOperation<Input, Output>[]): string {
  const lines = history.map((op) => {
    const { id, clientId, input, callMs, returnMs, output } = op;
    return JSON.stringify(output === undefined ? { id, clientId, input, callMs, returnMs } : { id, clientId, input, callMs, returnMs, output });
  });
  return `[\n${lines.join(',\n')}\n]\n`;
}

/**
 * One op in Jepsen's terms. `completion` is `ok` with the completion's `:value`, `fail` for an
 * op known not to have taken effect (Jepsen drops it), or `info` for an indeterminate one.
 */
export interface JepsenForm {
  readonly f: string;
  readonly invokeValue: EdnValue;
  readonly completion: { readonly type: 'ok'; readonly value: EdnValue } | { readonly type: 'fail' | 'info' };
}

const keyword = (name: string): Keyword => ({ kind: 'keyword', name });

/**
 * The key-value model's Jepsen spelling (Jepsen's independent form, `[key value]`). A failed
 * cas did not take effect, so it is written `:fail`, as Jepsen records it; a read of a missing
 * key reads nil.
 */
export function kvToJepsen(op: ModelOperation<KvOperation, KvOutput>): JepsenForm {
  const { input, output } = op;
  const known = op.returnMs !== null && output !== undefined;
  const ok = (value: EdnValue): JepsenForm['completion'] => (known ? { type: 'ok', value } : { type: 'info' });
  switch (input.type) {
    case 'read': {
      const seen = known && output.ok ? ednValue(output.value) : null;
      return { f: 'read', invokeValue: [input.key, null], completion: ok([input.key, seen]) };
    }
    case 'write':
      return { f: 'write', invokeValue: [input.key, ednValue(input.value)], completion: ok([input.key, ednValue(input.value)]) };
    case 'cas': {
      const invokeValue: EdnValue = [input.key, [input.expected === null ? null : ednValue(input.expected), ednValue(input.value)]];
      return { f: 'cas', invokeValue, completion: known && !output.ok ? { type: 'fail' } : ok(invokeValue) };
    }
    case 'delete':
      return { f: 'delete', invokeValue: [input.key, null], completion: ok([input.key, null]) };
  }
}

function ednValue(value: unknown): EdnValue {
  if (typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value))) return value;
  throw new Error(`history-write: ${JSON.stringify(value)} has no EDN form here (the reader takes integers and strings)`);
}

interface JepsenEvent {
  readonly atMs: number;
  readonly type: 'invoke' | 'ok' | 'fail' | 'info';
  readonly process: number;
  readonly form: JepsenForm;
}

/**
 * Jepsen's EDN: an `:invoke` at each op's call and its completion at its return, in time
 * order, `:time` in nanoseconds. Processes are integers: each client gets one, and a fresh one
 * after an indeterminate op, as Jepsen does after a crashed process (the reader pairs events by
 * process, and an indeterminate op never completes). Its `:info` comes at the end.
 */
export function writeEdnHistory<Input, Output>(history: readonly ModelOperation<Input, Output>[], toJepsen: (op: ModelOperation<Input, Output>) => JepsenForm): string {
  const processes = new Map<string, number>();
  let processCount = 0;
  const events: JepsenEvent[] = [];
  const endMs = Math.max(0, ...history.map((op) => Math.max(op.callMs, op.returnMs ?? 0)));
  // Each client's ops in call order, so that a process's completion is written before its next invocation.
  const ordered = [...history].sort((a, b) => a.callMs - b.callMs || a.id - b.id);
  for (const op of ordered) {
    const process = processes.get(op.clientId) ?? processCount++;
    const form = toJepsen(op);
    events.push({ atMs: op.callMs, type: 'invoke', process, form });
    const { completion } = form;
    if (completion.type === 'info') {
      events.push({ atMs: endMs, type: 'info', process, form });
      processes.set(op.clientId, processCount++);
    } else {
      events.push({ atMs: op.returnMs ?? endMs, type: completion.type, process, form });
      processes.set(op.clientId, process);
    }
  }
  // Stable: at equal times, events keep the order above.
  events.sort((a, b) => a.atMs - b.atMs);
  return events.map(formatEvent).join('\n') + '\n';
}

function formatEvent({ atMs, type, process, form }: JepsenEvent): string {
  const value = type === 'ok' && form.completion.type === 'ok' ? form.completion.value : form.invokeValue;
  const timeNs = Math.round(atMs * 1e6);
  return formatEdn({ kind: 'map', line: 0, column: 0, entries: [
    [keyword('type'), keyword(type)],
    [keyword('f'), keyword(form.f)],
    [keyword('value'), value],
    [keyword('process'), process],
    [keyword('time'), timeNs],
  ] });
}

/** EDN text for a value the reader accepts: nil, booleans, integers, strings, keywords, vectors and maps. */
export function formatEdn(value: EdnValue): string {
  if (value === null) return 'nil';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`history-write: EDN here has integers only, got ${value}`);
    return String(value);
  }
  if (typeof value === 'string') return `"${value.replace(/[\\"\n\t\r]/g, (char) => ESCAPES[char] ?? char)}"`;
  if (Array.isArray(value)) return `[${(value as readonly EdnValue[]).map(formatEdn).join(' ')}]`;
  const object = value as Keyword | Extract<EdnValue, { kind: 'map' }>;
  if (object.kind === 'keyword') return `:${object.name}`;
  return `{${object.entries.map(([key, item]) => `${formatEdn(key)} ${formatEdn(item)}`).join(', ')}}`;
}

const ESCAPES: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t', '\r': '\\r' };
