/**
 * How large and how deep a client's input may be: a request (normal.ts) or a read (reads.ts).
 * Both are bounded before anything else is done with them: a request is held, journaled and
 * sent to every backup, a read is held until it is answered, and a deeply nested one would
 * overflow the stack wherever it is encoded.
 */
import { JSON_DEPTH_MAX, measureJson } from './json-bounds.js';
import type { Limits } from './config.js';
import { assert } from './assert.js';

/** How deep a client's operation (or a read's query) may nest, as JSON. */
export const OPERATION_DEPTH_MAX = 32;
/** The levels a request adds around its operation ({clientId, requestNumber, operation}); a read's the same. */
const REQUEST_ENVELOPE_DEPTH = 1;
/**
 * The levels the deepest message adds around a request it carries: a RecoveryResponse, its
 * primaryState, its log, an entry, the entry's requests.
 */
const MESSAGE_ENVELOPE_DEPTH = 5;
// An operation the primary accepts must travel in every message that carries the log, within
// the depth interpreters allow a frame before they parse it; else the op it enters could never
// reach a backup.
assert(
  OPERATION_DEPTH_MAX + REQUEST_ENVELOPE_DEPTH + MESSAGE_ENVELOPE_DEPTH <= JSON_DEPTH_MAX,
  'an accepted operation fits in every message, within JSON_DEPTH_MAX',
);

/** The input's size as JSON in bytes, or why it is refused (`what` names it: `request`, `read`). */
export function measureClientInput(input: unknown, limits: Limits, what: string): { ok: true; bytes: number } | { ok: false; reason: string } {
  const { requestBytesMax } = limits;
  const measured = measureJson(input, requestBytesMax, OPERATION_DEPTH_MAX + REQUEST_ENVELOPE_DEPTH);
  if (measured.ok) return { ok: true, bytes: measured.bytes };
  return { ok: false, reason: `${what}: ${measured.reason} (limits: ${requestBytesMax} bytes, nested ${OPERATION_DEPTH_MAX} deep)` };
}
