/**
 * Bounds on untrusted JSON: its nesting depth and its encoded size.
 *
 * `JSON.stringify` (and, in some engines, `JSON.parse`) recurses once per
 * level of nesting, so a value nested a few hundred thousand deep throws a
 * stack overflow wherever it is next encoded: in a store, a transport, a
 * log line. And every op a primary accepts is held in memory, journaled and
 * sent to every backup, so its size is a cost the whole cluster pays.
 * Interpreters check frames with `jsonDepthWithin` before parsing them; the
 * core measures every client request with `measureJson` before it is
 * queued. Both are iterative and stop as soon as a bound is crossed, so the
 * check itself costs at most the bound.
 */
import { assert } from './assert.js';

/** JSON nested deeper than this is refused before it is parsed, stored or encoded. */
export const JSON_DEPTH_MAX = 64;

export type JsonMeasure = { readonly ok: true; readonly bytes: number } | { readonly ok: false; readonly reason: string };

const ASCII_ONLY = /^[\x20-\x7e]*$/;

/** UTF-8 bytes of a string's JSON text, quotes included (escapes of control characters aside). */
function stringBytes(text: string): number {
  if (ASCII_ONLY.test(text)) return text.length + 2;
  let bytes = 2;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4; // A surrogate pair: one code point of four bytes.
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function scalarBytes(value: unknown): number | string {
  switch (typeof value) {
    case 'string':
      return stringBytes(value);
    case 'number':
      return Number.isFinite(value) ? String(value).length : 'a number that is not finite';
    case 'boolean':
      return value ? 4 : 5;
    case 'undefined':
      return 4; // Left out of an object, null in an array: never more than `null`.
    default:
      return value === null ? 4 : `a ${typeof value}, which is not JSON`;
  }
}

/**
 * Measures a decoded value as JSON: its encoded size in UTF-8 bytes (escapes
 * aside, so a lower bound within a few bytes for ordinary text) and its
 * depth. Refuses, with a reason, a value deeper than `depthMax`, larger than
 * `bytesMax`, or not JSON data at all (a function, a bigint, a cycle, a
 * getter that throws). Never throws on any input.
 */
export function measureJson(value: unknown, bytesMax: number, depthMax: number = JSON_DEPTH_MAX): JsonMeasure {
  assert(
    Number.isSafeInteger(bytesMax) && bytesMax >= 0 && Number.isSafeInteger(depthMax) && depthMax >= 0,
    () => `JSON bounds are non-negative integers, got bytesMax ${bytesMax}, depthMax ${depthMax}`,
  );
  // Depth-first, with the values and their depths in two arrays (no record per value).
  const values: unknown[] = [value];
  const depths: number[] = [0];
  let bytes = 0;
  try {
    while (values.length > 0) {
      const item = values.pop();
      const depth = depths.pop() ?? 0;
      if (item === null || typeof item !== 'object') {
        const size = scalarBytes(item);
        if (typeof size === 'string') return { ok: false, reason: `holds ${size}` };
        bytes += size;
      } else {
        if (depth >= depthMax) return { ok: false, reason: `is nested more than ${depthMax} levels deep` };
        if (Array.isArray(item)) {
          bytes += 2 + Math.max(0, item.length - 1); // Brackets and commas.
          for (const child of item as unknown[]) {
            values.push(child);
            depths.push(depth + 1);
          }
        } else {
          const keys = Object.keys(item);
          bytes += 2 + Math.max(0, keys.length - 1);
          for (const key of keys) {
            bytes += stringBytes(key) + 1;
            values.push((item as Record<string, unknown>)[key]);
            depths.push(depth + 1);
          }
        }
      }
      if (bytes > bytesMax) return { ok: false, reason: `is over ${bytesMax} bytes as JSON` };
    }
  } catch (error) {
    return { ok: false, reason: `could not be read (${String(error)})` };
  }
  return { ok: true, bytes };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * Whether the JSON text in `bytes` nests no deeper than `depthMax`, read
 * before parsing it. Brackets inside strings do not count. Text that is not
 * JSON may pass: the parser refuses it next.
 */
export function jsonDepthWithin(bytes: Uint8Array, depthMax: number = JSON_DEPTH_MAX): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) {
      if (++depth > depthMax) return false;
    } else if (byte === CLOSE_BRACKET || byte === CLOSE_BRACE) depth--;
  }
  return true;
}
