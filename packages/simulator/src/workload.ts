/**
 * The clients' workload: reads, writes, compare-and-sets and deletes over a
 * small key set, so operations conflict often. Every write carries a value
 * never written before, which keeps histories easy to check and makes a
 * lost or duplicated write visible.
 */
import type { KvOperation } from '@vsr/kv';
import type { Random } from './random.js';

export const KEY_COUNT = 3;

export class Workload {
  private nextValue = 1;
  private readonly recent = new Map<string, number>();

  constructor(private readonly random: Random) {}

  next(_client: number): KvOperation {
    const key = `k${this.random.int(0, KEY_COUNT - 1)}`;
    const roll = this.random.int(0, 99);
    if (roll < 40) return { type: 'read', key };
    if (roll < 75) return { type: 'write', key, value: this.fresh(key) };
    if (roll < 95) {
      // Expect a value recently written to this key, so a good share succeed.
      const expected = this.recent.get(key) ?? 0;
      return { type: 'cas', key, expected, value: this.fresh(key) };
    }
    return { type: 'delete', key };
  }

  private fresh(key: string): number {
    const value = this.nextValue++;
    this.recent.set(key, value);
    return value;
  }
}
