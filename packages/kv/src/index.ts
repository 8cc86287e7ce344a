/**
 * @vsr/kv: a key-value state machine for @vsr/core. Pure and deterministic;
 * the state is a persistent map, so applying an op never copies the store.
 *
 * Operations: read, write, compare-and-set, delete. Results say plainly what
 * happened: `{ ok: true, ... }` or `{ ok: false, error, ... }`.
 *
 * Compare-and-set with `expected: null` creates: it writes only if the key is
 * absent, and otherwise fails with the value it found. With a value as
 * `expected` it needs the key present (`not-found` if not) and equal to it.
 */
import * as t from 'io-ts';
import { Map as ImmutableMap } from 'immutable';
import type { StateMachine } from '@vsr/core';

export const KEY_LENGTH_MAX = 256;
export const VALUE_LENGTH_MAX = 64 * 1024;

const isKey = (u: unknown): u is string => typeof u === 'string' && u.length > 0 && u.length <= KEY_LENGTH_MAX;
export const Key = new t.Type<string, string, unknown>(
  `Key (1..${KEY_LENGTH_MAX} characters)`,
  isKey,
  (u, c) => (isKey(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);

const isValue = (u: unknown): u is string | number =>
  (typeof u === 'string' && u.length <= VALUE_LENGTH_MAX) || (typeof u === 'number' && Number.isFinite(u));
/** A value: a string (at most 64 KiB) or a finite number. */
export const Value = new t.Type<string | number, string | number, unknown>(
  'Value (string up to 64 KiB, or finite number)',
  isValue,
  (u, c) => (isValue(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);
export type Value = t.TypeOf<typeof Value>;

/** The operations, as io-ts codecs: what `KvOperation` accepts, and what its refusals say. */
export const KvOperationUnion = t.union([
  t.type({ type: t.literal('read'), key: Key }),
  t.type({ type: t.literal('write'), key: Key, value: Value }),
  /** `expected: null`: the key must be absent. */
  t.type({ type: t.literal('cas'), key: Key, expected: t.union([Value, t.null]), value: Value }),
  t.type({ type: t.literal('delete'), key: Key }),
]);
export type KvOperation = t.TypeOf<typeof KvOperationUnion>;

/** The one query the machine answers without the log: a read of one key. */
export const KvReadQuery = t.type({ type: t.literal('read'), key: Key });
export type KvReadQuery = t.TypeOf<typeof KvReadQuery>;

/** Exactly `KvOperationUnion.is`, written out: an object (not an array) of a known type with valid fields; other fields are allowed. */
function isKvOperation(u: unknown): u is KvOperation {
  if (u === null || typeof u !== 'object' || Array.isArray(u)) return false;
  const operation = u as Record<string, unknown>;
  if (!isKey(operation.key)) return false;
  switch (operation.type) {
    case 'read':
    case 'delete':
      return true;
    case 'write':
      return isValue(operation.value);
    case 'cas':
      return isValue(operation.value) && (operation.expected === null || isValue(operation.expected));
    default:
      return false;
  }
}

/**
 * The operation codec: a valid operation is accepted by a direct check (every replica decodes
 * every operation it executes, so this is on the hot path) and comes back as it was, as from
 * the union; anything else goes to the union, whose errors name the field. The property test in
 * test/ holds the two to the same verdicts.
 */
export const KvOperation = new t.Type<KvOperation, KvOperation, unknown>(
  KvOperationUnion.name,
  isKvOperation,
  // Refused: the union decides, in a context naming the union where this codec stood, so the
  // errors read exactly as the union's own (formatting skips a union's member index).
  (u, c) => (isKvOperation(u) ? t.success(u) : KvOperationUnion.validate(u, c.length === 0 ? c : [...c.slice(0, -1), { ...(c.at(-1) as t.ContextEntry), type: KvOperationUnion }])),
  t.identity,
);

export type KvResult =
  | { readonly ok: true; readonly value: Value } // read
  | { readonly ok: true } // write, cas
  | { readonly ok: true; readonly existed: boolean } // delete
  | { readonly ok: false; readonly error: 'not-found' }
  | { readonly ok: false; readonly error: 'precondition-failed'; readonly actual: Value };

export type KvState = ImmutableMap<string, Value>;

/** Applies one operation: the pure heart of the machine, also used by checkers as the model. */
export function applyKv(state: KvState, operation: KvOperation): [KvState, KvResult] {
  switch (operation.type) {
    case 'read': {
      const value = state.get(operation.key);
      return [state, value === undefined ? { ok: false, error: 'not-found' } : { ok: true, value }];
    }
    case 'write':
      return [state.set(operation.key, operation.value), { ok: true }];
    case 'cas': {
      const actual = state.get(operation.key);
      if (actual === undefined) {
        if (operation.expected !== null) return [state, { ok: false, error: 'not-found' }];
        return [state.set(operation.key, operation.value), { ok: true }];
      }
      if (actual !== operation.expected) return [state, { ok: false, error: 'precondition-failed', actual }];
      return [state.set(operation.key, operation.value), { ok: true }];
    }
    case 'delete':
      return [state.delete(operation.key), { ok: true, existed: state.has(operation.key) }];
  }
}

export const kvMachine: StateMachine<KvState, KvOperation, KvResult> = {
  name: 'kv',
  operation: KvOperation,
  init: () => ImmutableMap<string, Value>(),
  apply: (state, operation) => applyKv(state, operation),
  /** Entries sorted by key: the same state always gives the same snapshot. */
  snapshot: (state) =>
    state
      .entrySeq()
      .toArray()
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  restore: (snapshot) => {
    const entries = t.array(t.tuple([Key, Value])).decode(snapshot);
    if (entries._tag === 'Left') throw new Error('kv snapshot: expected an array of [key, value] pairs');
    return ImmutableMap(entries.right);
  },
  /** A read can also be answered without the log: the primary confirms its view first (linearizable). */
  reads: {
    query: KvReadQuery,
    answer: (state, query) => applyKv(state, query as KvReadQuery)[1],
  },
};
