/**
 * A reply's result read as a kv machine result. The client hands back
 * whatever the cluster answered (`unknown`); the page checks it has the
 * machine's shape before it shows it or records it in the history.
 */
import { decodeWith } from '@vsr/core';
import { Value, type KvResult } from '@vsr/kv';
import * as t from 'io-ts';

const KvResultCodec = t.union([
  t.type({ ok: t.literal(true), value: Value }),
  t.type({ ok: t.literal(true), existed: t.boolean }),
  t.type({ ok: t.literal(true) }),
  t.type({ ok: t.literal(false), error: t.literal('not-found') }),
  t.type({ ok: t.literal(false), error: t.literal('precondition-failed'), actual: Value }),
]);

export function asKvResult(result: unknown): KvResult {
  const decoded = decodeWith(KvResultCodec, result, 'result');
  if (decoded._tag === 'Left') throw new Error(`the cluster answered with something that is not a kv result: ${decoded.left}`);
  // io-ts's union keeps the extra fields of the member that matched, so a read keeps its value.
  return decoded.right;
}
