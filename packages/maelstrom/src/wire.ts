/**
 * Maelstrom's wire format: one JSON message per line, `{src, dest, body}`, `body.type` naming
 * the message, `body.msg_id` numbering requests and `body.in_reply_to` pairing replies with them
 * (doc/protocol.md). Every line read is untrusted: it is bounded in length and in nesting depth
 * before it is parsed (parsing and later encoding a deeply nested value recurse once per level),
 * and a line that is not a readable message is refused with a reason, never thrown on.
 */
import { JSON_DEPTH_MAX, jsonDepthWithin } from '@vsr/core';

/** A line longer than this (in UTF-16 code units) is refused before it is parsed. */
export const LINE_CHARS_MAX = 32 * 1024 * 1024;
/** Node and client names longer than this are refused. */
export const NAME_CHARS_MAX = 64;

export interface Body {
  readonly type: string;
  readonly msg_id?: number;
  readonly in_reply_to?: number;
  readonly [field: string]: unknown;
}

export interface Envelope {
  readonly src: string;
  readonly dest: string;
  readonly body: Body;
}

/** A line that is not a message: why, and whom to answer if the sender could be read. */
export interface LineRefusal {
  readonly reason: string;
  /** The sender and its `msg_id`, when the line got that far: a client can be told. */
  readonly sender?: { readonly src: string; readonly msgId: number };
}

export type ParsedLine = { readonly ok: true; readonly envelope: Envelope } | { readonly ok: false; readonly refusal: LineRefusal };

const encoder = new TextEncoder();

export function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= NAME_CHARS_MAX;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A `msg_id` or `in_reply_to`: a non-negative safe integer. */
export function isMessageId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Reads one line of stdin as a Maelstrom message, or says why it is not one. */
export function parseLine(line: string): ParsedLine {
  if (line.length > LINE_CHARS_MAX) return refuse(`a line of ${line.length} characters, over the ${LINE_CHARS_MAX}-character limit`);
  if (!jsonDepthWithin(encoder.encode(line), JSON_DEPTH_MAX)) return refuse(`a line nested more than ${JSON_DEPTH_MAX} levels deep`);
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return refuse(`a line that is not JSON (${describeText(line)})`);
  }
  return readEnvelope(json);
}

/** Checks a parsed line's envelope: `src` and `dest` names, and a body with a string `type`. */
export function readEnvelope(json: unknown): ParsedLine {
  if (!isRecord(json)) return refuse(`a message that is not an object (${describeValue(json)})`);
  const { src, dest, body } = json;
  if (!isName(src)) return refuse(`a message whose src is not a name of 1..${NAME_CHARS_MAX} characters (${describeValue(src)})`);
  if (!isName(dest)) return refuse(`a message from ${src} whose dest is not a name of 1..${NAME_CHARS_MAX} characters (${describeValue(dest)})`);
  if (!isRecord(body)) return refuse(`a message from ${src} whose body is not an object (${describeValue(body)})`);
  const sender = isMessageId(body.msg_id) ? { src, msgId: body.msg_id } : undefined;
  if (typeof body.type !== 'string' || body.type.length === 0 || body.type.length > NAME_CHARS_MAX) {
    return refuse(`a message from ${src} whose body.type is not a name of 1..${NAME_CHARS_MAX} characters (${describeValue(body.type)})`, sender);
  }
  if (body.msg_id !== undefined && !isMessageId(body.msg_id)) return refuse(`a ${body.type} from ${src} whose msg_id is not a non-negative integer (${describeValue(body.msg_id)})`);
  return { ok: true, envelope: { src, dest, body: body as Body } };
}

function refuse(reason: string, sender?: LineRefusal['sender']): ParsedLine {
  return { ok: false, refusal: sender === undefined ? { reason } : { reason, sender } };
}

/** A short, safe description of an untrusted value for a log line: at most a few dozen characters of it. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'number':
    case 'boolean':
      return String(value);
    case 'string':
      return describeText(JSON.stringify(value));
    case 'undefined':
      return 'nothing';
    default:
      return value === null ? 'null' : Array.isArray(value) ? 'an array' : `a${typeof value === 'object' ? 'n object' : ` ${typeof value}`}`;
  }
}

function describeText(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
