/**
 * The key-value workload, the simulator's default: reads, writes, compare-and-sets and deletes
 * over a small key set, so operations conflict often. Every write carries a value never
 * written before, which keeps histories easy to check and makes a lost or duplicated write
 * visible. It keeps state (the next fresh value, each key's latest), so each run makes its own.
 */
import type { KvOperation, KvResult } from '@vsr/kv';
import type { Workload } from './model.js';
import type { Random } from './random.js';

export const KEY_COUNT = 3;

export function kvWorkload(): Workload<KvOperation, KvResult> {
  let nextValue = 1;
  const recent = new Map<string, number>();
  const fresh = (key: string): number => {
    const value = nextValue++;
    recent.set(key, value);
    return value;
  };
  return {
    name: 'kv',
    next(random: Random): KvOperation {
      const key = `k${random.int(0, KEY_COUNT - 1)}`;
      const roll = random.int(0, 99);
      if (roll < 40) return { type: 'read', key };
      if (roll < 75) return { type: 'write', key, value: fresh(key) };
      if (roll < 95) {
        // Expect a value recently written to this key, so a good share succeed.
        const expected = recent.get(key) ?? 0;
        return { type: 'cas', key, expected, value: fresh(key) };
      }
      return { type: 'delete', key };
    },
  };
}
