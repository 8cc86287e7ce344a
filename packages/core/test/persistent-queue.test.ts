/**
 * PersistentQueue against an array: random pushes, takes and filters give the same values in
 * the same order, and every earlier version still holds what it held (the reducer keeps old
 * states valid).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PersistentQueue } from '../src/persistent-queue.js';

type Step = { kind: 'push'; value: number } | { kind: 'take' } | { kind: 'filter'; modulo: number } | { kind: 'normalize' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 1_000 }).map((value) => ({ kind: 'push' as const, value })) },
  { weight: 3, arbitrary: fc.constant({ kind: 'take' as const }) },
  { weight: 1, arbitrary: fc.integer({ min: 2, max: 4 }).map((modulo) => ({ kind: 'filter' as const, modulo })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'normalize' as const }) },
);

describe('PersistentQueue', () => {
  test('behaves as an array used as a FIFO queue, and every version keeps its contents', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 120 }), (steps) => {
        // normalize and peek change nothing a reader can see: the same values, the oldest first.
        let queue = PersistentQueue.empty<number>();
        let model: number[] = [];
        const versions: Array<[PersistentQueue<number>, number[]]> = [[queue, []]];
        for (const s of steps) {
          if (s.kind === 'push') {
            queue = queue.push(s.value);
            model = [...model, s.value];
          } else if (s.kind === 'take') {
            const taken = queue.take();
            expect(taken?.value).toBe(model[0]);
            if (taken !== null) queue = taken.rest;
            model = model.slice(1);
          } else if (s.kind === 'normalize') {
            queue = queue.normalized();
          } else {
            queue = queue.filter((value) => value % s.modulo !== 0);
            model = model.filter((value) => value % s.modulo !== 0);
          }
          expect(queue.size).toBe(model.length);
          expect(queue.peek()).toBe(model[0]);
          versions.push([queue, model]);
        }
        for (const [version, contents] of versions) expect([...version]).toEqual(contents);
      }),
    );
  });
});
