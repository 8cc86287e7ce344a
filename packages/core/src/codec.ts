/**
 * Small io-ts building blocks shared by every codec in the core, and a
 * reporter that turns decode failures into one readable line naming the field.
 */
import * as t from 'io-ts';
import { isLeft, type Either } from 'fp-ts/lib/Either.js';

const isNonNegativeInteger = (u: unknown): u is number =>
  typeof u === 'number' && Number.isSafeInteger(u) && u >= 0;

/** A safe, non-negative integer: op numbers, view numbers, replica ids, counts. */
export const NonNegativeInteger = new t.Type<number, number, unknown>(
  'NonNegativeInteger',
  isNonNegativeInteger,
  (u, c) => (isNonNegativeInteger(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);

const isPositiveInteger = (u: unknown): u is number => isNonNegativeInteger(u) && u > 0;

/** A safe integer greater than zero: timeouts, limits. */
export const PositiveInteger = new t.Type<number, number, unknown>(
  'PositiveInteger',
  isPositiveInteger,
  (u, c) => (isPositiveInteger(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);

/**
 * The largest view a message may name. Views count up by one per view change, so 2^48 is never
 * reached by a working cluster (ten view changes a second for 890,000 years); what it guards
 * against is a message that names a view near 2^53, after which the next view is no longer a
 * safe integer and a replica could not change views at all. A cluster moved to this view by a
 * peer holding the credentials stays alive and counts its own views up from there.
 */
export const VIEW_NUMBER_MAX = 2 ** 48;
const isViewNumber = (u: unknown): u is number => isNonNegativeInteger(u) && u <= VIEW_NUMBER_MAX;
export const ViewNumber = new t.Type<number, number, unknown>(
  `ViewNumber (0..2^48)`,
  isViewNumber,
  (u, c) => (isViewNumber(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);

/** Client ids are opaque, non-empty and short enough to keep the client table bounded in bytes. */
export const CLIENT_ID_LENGTH_MAX = 128;
const isClientId = (u: unknown): u is string =>
  typeof u === 'string' && u.length > 0 && u.length <= CLIENT_ID_LENGTH_MAX;
export const ClientId = new t.Type<string, string, unknown>(
  'ClientId',
  isClientId,
  (u, c) => (isClientId(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);

/**
 * The client id of untrusted input that may be a client request, or null: read without letting
 * a hostile getter throw, so an interpreter knows whom to refuse a request it cannot take.
 */
export function readClientId(raw: unknown): string | null {
  if (raw === null || typeof raw !== 'object') return null;
  try {
    const clientId = (raw as { clientId?: unknown }).clientId;
    return isClientId(clientId) ? clientId : null;
  } catch {
    return null;
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return typeof value;
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  } catch {
    return typeof value;
  }
}

/**
 * Formats io-ts errors as `path.to.field: expected Type, got value`. Union
 * branches produce many errors; the deepest paths are the most specific, so we
 * keep the first few distinct ones.
 */
export function formatErrors(errors: t.Errors, root = ''): string {
  const lines: string[] = [];
  for (const error of errors) {
    // Keys under a union or intersection are member indexes, not fields: leave them out of the path.
    const path = error.context
      .filter((entry, i) => {
        const parent = error.context[i - 1]?.type;
        return entry.key !== '' && !(parent instanceof t.UnionType || parent instanceof t.IntersectionType);
      })
      .map((entry) => entry.key)
      .join('.');
    const last = error.context[error.context.length - 1];
    let expected = error.message ?? (last ? last.type.name : 'value');
    if (expected.length > 80) expected = expected.startsWith('{') || expected.startsWith('Partial<') ? 'an object' : `${expected.slice(0, 77)}...`;
    const field = [root, path].filter((part) => part.length > 0).join('.');
    const line = `${field.length > 0 ? field : '(root)'}: expected ${expected}, got ${describeValue(error.value)}`;
    if (!lines.includes(line)) lines.push(line);
    if (lines.length >= 3) break;
  }
  return lines.join('; ');
}

/** Decodes, returning either the value or a readable reason. Never throws. */
export function decodeWith<A>(codec: t.Decoder<unknown, A>, input: unknown, root = ''): Either<string, A> {
  let result: Either<t.Errors, A>;
  try {
    result = codec.decode(input);
  } catch (error) {
    // A hostile input (a getter that throws, a revoked proxy) must not crash the reducer.
    return { _tag: 'Left', left: `${root || '(root)'}: could not be read (${String(error)})` };
  }
  if (isLeft(result)) return { _tag: 'Left', left: formatErrors(result.left, root) };
  return result;
}
