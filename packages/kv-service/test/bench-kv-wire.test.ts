/** What `npm run bench:kv` counts as a success, for writes and for reads. */
import { describe, expect, test } from 'vitest';
import { classifyKvGet, classifyKvPut } from '../bench/kv-wire.js';

describe('bench:kv answers', () => {
  test('a write succeeds only as 200 {"ok":true}', () => {
    expect(classifyKvPut({ code: 200, body: '{"ok":true}' })).toBeNull();
    expect(classifyKvPut({ code: 200, body: '{"ok":false}' })).toEqual(['HTTP 200 without {"ok":true}', '{"ok":false}']);
    expect(classifyKvPut({ code: 503, body: '{"error":"unavailable"}' })?.[0]).toBe('HTTP 503 unavailable');
  });

  test('a read succeeds as 200 {"key","value"} or as 404 not-found; anything else is a failure', () => {
    expect(classifyKvGet({ code: 200, body: '{"key":"k1","value":"v"}' })).toBeNull();
    expect(classifyKvGet({ code: 404, body: '{"error":"not-found","key":"k1"}' })).toBeNull();
    expect(classifyKvGet({ code: 404, body: '{"error":"no route"}' })?.[0]).toBe('HTTP 404 no route');
    expect(classifyKvGet({ code: 200, body: '{"ok":true}' })?.[0]).toBe('HTTP 200');
    expect(classifyKvGet({ code: 503, body: 'not json' })).toEqual(['HTTP 503', 'not json']);
  });
});
