/**
 * `KvOperation`'s direct check against the io-ts union it stands in for: on generated inputs,
 * valid and not (wrong types, missing or extra fields, long keys and values, non-finite
 * numbers, arrays, null), both give the same verdict, the same value on success and the same
 * refusal message (as the core formats it) on failure.
 */
import fc from 'fast-check';
import { decodeWith } from '@vsr/core';
import { describe, expect, test } from 'vitest';
import { KEY_LENGTH_MAX, KvOperation, KvOperationUnion, VALUE_LENGTH_MAX } from '../src/index.js';

const key = fc.oneof(fc.string({ minLength: 0, maxLength: 4 }), fc.string({ minLength: KEY_LENGTH_MAX, maxLength: KEY_LENGTH_MAX + 1 }), fc.integer(), fc.constant(undefined));
const value = fc.oneof(
  fc.string({ maxLength: 4 }),
  fc.constant('v'.repeat(VALUE_LENGTH_MAX)),
  fc.constant('v'.repeat(VALUE_LENGTH_MAX + 1)),
  fc.double(),
  fc.constant(Number.NaN),
  fc.constant(Number.POSITIVE_INFINITY),
  fc.constant(null),
  fc.boolean(),
  fc.constant(undefined),
);
const operation = fc.oneof(
  fc.record({ type: fc.constantFrom('read', 'write', 'cas', 'delete', 'other', 3), key, value, expected: value, extra: fc.anything() }, { requiredKeys: ['type'] }),
  fc.anything(),
  fc.array(fc.anything(), { maxLength: 3 }),
);

describe('the kv operation codec', () => {
  test('gives the union\'s verdict, value and errors on every input', () => {
    fc.assert(
      fc.property(operation, (input) => {
        const fast = KvOperation.decode(input);
        const union = KvOperationUnion.decode(input);
        expect(fast._tag).toBe(union._tag);
        expect(KvOperation.is(input)).toBe(KvOperationUnion.is(input));
        if (fast._tag === 'Right' && union._tag === 'Right') expect(fast.right).toBe(union.right);
        // What a refused client reads: the core's formatting of the errors, field by field.
        else expect(decodeWith(KvOperation, input, 'operation')).toEqual(decodeWith(KvOperationUnion, input, 'operation'));
      }),
      { numRuns: 3_000 },
    );
  });
});
