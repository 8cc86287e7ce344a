/**
 * Jepsen histories in EDN: a sequence of maps, one per event, or a single vector of them, e.g.
 *
 *   {:type :invoke, :f :write, :value 3, :process 0, :time 123}
 *   {:type :ok,     :f :write, :value 3, :process 0, :time 456}
 *
 * `:type` is `:invoke`, then `:ok` (it happened, with the completion's `:value` as output),
 * `:fail` (it did not happen: dropped) or `:info` (indeterminate); an invocation with no
 * completion is indeterminate too. Invocation and completion are matched by `:process` (an
 * integer); events of other processes (`:nemesis`) are skipped. `:time` (nanoseconds) gives
 * the times if every event has one; without any, the events' positions do. Other keys
 * (`:index`, `:error`, ...) are ignored. What `:f` and `:value` mean is the model's (codec.ts).
 */
import type { ModelOperation } from '../model.js';
import { HistoryError, type HistoryCodec } from './codec.js';
import { describeEdn, isEdnMap, isKeyword, isVector, mapGet, readEdn, type EdnMap, type EdnValue } from './edn.js';

export const HISTORY_EVENTS_MAX = 2_000_000;

interface JepsenEvent {
  readonly type: 'invoke' | 'ok' | 'fail' | 'info';
  readonly f: string;
  readonly value: EdnValue;
  readonly process: number;
  readonly timeNs: number | undefined;
  readonly where: string;
}

interface Pending {
  readonly invoke: JepsenEvent;
  readonly callMs: number;
  readonly id: number;
}

export function parseEdnHistory<Input, Output>(text: string, codec: HistoryCodec<Input, Output>): ModelOperation<Input, Output>[] {
  const forms = readEdn(text, HISTORY_EVENTS_MAX);
  const first = forms[0];
  const maps = forms.length === 1 && isVector(first) ? first : forms;
  const events = maps.map(toEvent).filter((event) => event !== null);
  const timed = events.filter((event) => event.timeNs !== undefined).length;
  if (timed !== 0 && timed !== events.length) {
    const untimed = events.find((event) => event.timeNs === undefined)!;
    throw new HistoryError(`${untimed.where}: no :time, but other events have one (give every event a :time, or none)`);
  }
  const timeMsOf = (event: JepsenEvent, index: number): number => (event.timeNs === undefined ? index : event.timeNs / 1e6);
  const pending = new Map<number, Pending>();
  const history: ModelOperation<Input, Output>[] = [];
  let lastMs = -Infinity;
  events.forEach((event, index) => {
    const atMs = timeMsOf(event, index);
    if (atMs < lastMs) throw new HistoryError(`${event.where}: :time goes backwards`);
    lastMs = atMs;
    const open = pending.get(event.process);
    if (event.type === 'invoke') {
      if (open !== undefined) throw new HistoryError(`${event.where}: process ${event.process} invokes again before its ${open.invoke.where} completed`);
      pending.set(event.process, { invoke: event, callMs: atMs, id: index });
      return;
    }
    if (open === undefined) throw new HistoryError(`${event.where}: a :${event.type} for process ${event.process}, which has no invocation open`);
    if (open.invoke.f !== event.f) throw new HistoryError(`${event.where}: completes :${open.invoke.f} (${open.invoke.where}) with :f :${event.f}`);
    pending.delete(event.process);
    if (event.type === 'fail') return;
    history.push(toOperation(codec, open, event.type === 'ok' ? { event, atMs } : null));
  });
  for (const open of pending.values()) history.push(toOperation(codec, open, null));
  return history.sort((a, b) => a.id - b.id);
}

function toOperation<Input, Output>(codec: HistoryCodec<Input, Output>, open: Pending, ok: { event: JepsenEvent; atMs: number } | null): ModelOperation<Input, Output> {
  const { invoke } = open;
  let read: { input: Input; output: Output | undefined };
  try {
    read = codec.fromJepsen({ f: invoke.f, invokeValue: invoke.value, ...(ok !== null ? { okValue: ok.event.value } : {}) });
  } catch (error) {
    if (error instanceof HistoryError) throw new HistoryError(`${ok?.event.where ?? invoke.where}: ${error.message}`);
    throw error;
  }
  return {
    id: open.id,
    clientId: String(invoke.process),
    input: read.input,
    callMs: open.callMs,
    returnMs: ok === null ? null : ok.atMs,
    output: ok === null ? undefined : read.output,
  };
}

const TYPES = ['invoke', 'ok', 'fail', 'info'] as const;

function keywordField(map: EdnMap, name: string, where: string): string {
  const value = mapGet(map, name);
  if (!isKeyword(value)) throw new HistoryError(`${where}: :${name} must be a keyword, got ${describeEdn(value)}`);
  return value.name;
}

/** One event map, or null for an event of a non-client process (a nemesis). */
function toEvent(form: EdnValue, index: number): JepsenEvent | null {
  if (!isEdnMap(form)) throw new HistoryError(`event ${index + 1}: expected a map {:type ... :f ... :process ...}, got ${describeEdn(form)}`);
  const where = `event ${index + 1} (line ${form.line}, column ${form.column})`;
  const process = mapGet(form, 'process');
  if (isKeyword(process)) return null;
  if (typeof process !== 'number' || process < 0) throw new HistoryError(`${where}: :process must be a non-negative integer (or a keyword such as :nemesis), got ${describeEdn(process)}`);
  const type = keywordField(form, 'type', where);
  if (!(TYPES as readonly string[]).includes(type)) throw new HistoryError(`${where}: :type must be :invoke, :ok, :fail or :info, got :${type}`);
  const time = mapGet(form, 'time');
  if (time !== undefined && (typeof time !== 'number' || time < 0)) throw new HistoryError(`${where}: :time must be a non-negative integer (nanoseconds), got ${describeEdn(time)}`);
  return { type: type as JepsenEvent['type'], f: keywordField(form, 'f', where), value: mapGet(form, 'value') ?? null, process, timeNs: time, where };
}
