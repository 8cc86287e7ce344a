/**
 * The demo's key-value form, read into an operation of the kv machine
 * (@vsr/kv) and checked with its own codec, so the page refuses exactly
 * what a replica would refuse, with the codec's reason, before sending it.
 */
import { decodeWith } from '@vsr/core';
import { KvOperation, type KvResult } from '@vsr/kv';

/** The form's four actions, named as a user says them; `put` is the machine's `write`, `get` its `read`. */
export const FORM_ACTIONS = ['put', 'get', 'cas', 'delete'] as const;
export type FormAction = (typeof FORM_ACTIONS)[number];

export interface FormFields {
  readonly action: string;
  readonly key: string;
  readonly value: string;
  /** For cas; empty means "the key must be absent" (the machine's `expected: null`). */
  readonly expected: string;
}

/**
 * A field's text as a kv value: a number when the text is one written the
 * way JavaScript prints it (`17`, `-2.5`), a string otherwise (`007`, `1e3`,
 * `abc` stay strings), so that what the table shows reads back the same.
 */
export function parseValue(text: string): string | number {
  const number = Number(text);
  return text !== '' && Number.isFinite(number) && String(number) === text ? number : text;
}

/** The operation the form describes, or why it describes none. */
export function formOperation(fields: FormFields): { ok: true; operation: KvOperation } | { ok: false; reason: string } {
  const action = FORM_ACTIONS.find((known) => known === fields.action);
  if (action === undefined) return { ok: false, reason: `unknown action ${JSON.stringify(fields.action)}` };
  const key = fields.key;
  const candidate =
    action === 'put'
      ? { type: 'write', key, value: parseValue(fields.value) }
      : action === 'get'
        ? { type: 'read', key }
        : action === 'cas'
          ? { type: 'cas', key, expected: fields.expected === '' ? null : parseValue(fields.expected), value: parseValue(fields.value) }
          : { type: 'delete', key };
  const decoded = decodeWith(KvOperation, candidate, 'operation');
  return decoded._tag === 'Right' ? { ok: true, operation: decoded.right } : { ok: false, reason: decoded.left };
}

/** A result as one line of text for the page. */
export function describeResult(result: KvResult): string {
  if (!result.ok) return result.error === 'precondition-failed' ? `precondition failed: the value is ${JSON.stringify(result.actual)}` : 'not found';
  if ('value' in result) return `value ${JSON.stringify(result.value)}`;
  if ('existed' in result) return result.existed ? 'deleted' : 'deleted (it did not exist)';
  return 'ok';
}
