/**
 * lin-kv's operations as `@vsr/kv` operations, and `@vsr/kv` results as lin-kv replies.
 *
 * Maelstrom's keys and values are arbitrary JSON (usually integers); the machine's keys are
 * strings of 1..256 characters and its values strings or numbers. A key or value is stored as
 * its canonical JSON text (object fields sorted), so equal JSON values are equal strings and
 * different ones differ (the integer 5 is `5`, the string "5" is `"5"`), and a compare-and-set
 * compares JSON values. A read decodes the text back.
 */
import { KEY_LENGTH_MAX, VALUE_LENGTH_MAX, type KvOperation } from '@vsr/kv';
import { ErrorCode, errorBody } from './codes.js';
import { describeValue, isRecord, type Body } from './wire.js';

export type LinKvKind = 'read' | 'write' | 'cas';

export interface LinKvOperation {
  readonly kind: LinKvKind;
  readonly operation: KvOperation;
}

export type LinKvRequest = { readonly ok: true; readonly request: LinKvOperation } | { readonly ok: false; readonly code: ErrorCode; readonly text: string };

/** A reply body without its `in_reply_to` (the node adds that). */
export type ReplyBody = { readonly type: string } & Record<string, unknown>;

export function isLinKvKind(type: string): type is LinKvKind {
  return type === 'read' || type === 'write' || type === 'cas';
}

/**
 * The canonical JSON text of a parsed JSON value: object fields in code-unit order, so two
 * equal values have one text. The value came from `JSON.parse` of a line bounded in depth.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isRecord(value)) {
    const fields = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${fields.map((field) => `${JSON.stringify(field)}:${canonicalJson(value[field])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The canonical JSON text of a field of the request, or why it cannot be stored. */
function encoded(body: Body, field: string, what: 'key' | 'value', charsMax: number): { ok: true; json: string } | { ok: false; code: ErrorCode; text: string } {
  if (!(field in body) || body[field] === undefined) return { ok: false, code: ErrorCode.malformedRequest, text: `a ${body.type} needs a ${field}` };
  const json = canonicalJson(body[field]);
  if (json.length > charsMax) return { ok: false, code: ErrorCode.malformedRequest, text: `${body.type}.${field}: a ${what} of ${json.length} characters as JSON, over the ${charsMax}-character limit` };
  return { ok: true, json };
}

/** Reads a lin-kv request body (`read {key}`, `write {key, value}`, `cas {key, from, to}`) as a machine operation. */
export function toKvOperation(body: Body & { readonly type: LinKvKind }): LinKvRequest {
  const key = encoded(body, 'key', 'key', KEY_LENGTH_MAX);
  if (!key.ok) return key;
  switch (body.type) {
    case 'read':
      return { ok: true, request: { kind: 'read', operation: { type: 'read', key: key.json } } };
    case 'write': {
      const value = encoded(body, 'value', 'value', VALUE_LENGTH_MAX);
      if (!value.ok) return value;
      return { ok: true, request: { kind: 'write', operation: { type: 'write', key: key.json, value: value.json } } };
    }
    case 'cas': {
      if (body.create_if_not_exists !== undefined && body.create_if_not_exists !== false) {
        return { ok: false, code: ErrorCode.notSupported, text: 'cas with create_if_not_exists is not supported: lin-kv cas needs the key to exist' };
      }
      const from = encoded(body, 'from', 'value', VALUE_LENGTH_MAX);
      if (!from.ok) return from;
      const to = encoded(body, 'to', 'value', VALUE_LENGTH_MAX);
      if (!to.ok) return to;
      return { ok: true, request: { kind: 'cas', operation: { type: 'cas', key: key.json, expected: from.json, value: to.json } } };
    }
  }
}

/** Decodes a stored value (canonical JSON text written by this node). */
function decodeStored(value: unknown): { ok: true; value: unknown } | { ok: false } {
  if (typeof value !== 'string') return { ok: false };
  try {
    return { ok: true, value: JSON.parse(value) as unknown };
  } catch {
    return { ok: false };
  }
}

/**
 * The lin-kv reply to a machine result: `read_ok {value}`, `write_ok`, `cas_ok`, or error 20
 * (the key holds nothing) or 22 (cas: `from` is not the value). A result of another shape
 * cannot come from `@vsr/kv`; it is answered as an indefinite error, never as a guess.
 */
export function replyOf(kind: LinKvKind, result: unknown): ReplyBody {
  if (!isRecord(result) || typeof result.ok !== 'boolean') return errorBody(ErrorCode.crash, `the cluster answered ${kind} with ${describeValue(result)}, not a key-value result`);
  if (result.ok) {
    if (kind === 'write') return { type: 'write_ok' };
    if (kind === 'cas') return { type: 'cas_ok' };
    const stored = decodeStored(result.value);
    if (!stored.ok) return errorBody(ErrorCode.crash, `the key holds ${describeValue(result.value)}, which this node did not write`);
    return { type: 'read_ok', value: stored.value };
  }
  if (result.error === 'not-found') return errorBody(ErrorCode.keyDoesNotExist, 'key does not exist');
  if (result.error === 'precondition-failed' && kind === 'cas') {
    return errorBody(ErrorCode.preconditionFailed, `precondition failed: the key holds ${describeStored(result.actual)}`);
  }
  return errorBody(ErrorCode.crash, `the cluster refused ${kind} with ${describeValue(result.error)}`);
}

function describeStored(value: unknown): string {
  return typeof value === 'string' ? (value.length > 40 ? `${value.slice(0, 37)}...` : value) : describeValue(value);
}
