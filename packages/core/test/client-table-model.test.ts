/**
 * The client table against a plain model: a JS Map used as an LRU list (delete, then set, on
 * each record; evict from the front while over a bound, never the session just recorded).
 * Random records, bounds in sessions and in bytes, and tables rebuilt from their own entries
 * (as from a checkpoint) must give the same evictions, the same order and the same bytes.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ClientTable, type ClientSession } from '../src/index.js';

const SESSION_OVERHEAD_BYTES = 64;
const bytesOf = (clientId: string, session: ClientSession) => SESSION_OVERHEAD_BYTES + clientId.length + JSON.stringify(session.result).length;

type Step = { kind: 'record'; client: number; resultLength: number } | { kind: 'restore' };

describe('the client table', () => {
  test('evicts, orders and counts bytes as an LRU map would, also after a restore from its own entries', () => {
    const stepArb: fc.Arbitrary<Step> = fc.oneof(
      { weight: 9, arbitrary: fc.record({ kind: fc.constant('record' as const), client: fc.nat({ max: 12 }), resultLength: fc.nat({ max: 60 }) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'restore' as const }) },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 100, max: 800 }), fc.array(stepArb, { maxLength: 150 }), (sessionsMax, bytesMax, steps) => {
        const bounds = { sessionsMax, bytesMax };
        let table = ClientTable.EMPTY;
        const model = new Map<string, ClientSession>();
        let modelBytes = 0;
        const requestNumbers = new Map<string, number>();
        for (const step of steps) {
          if (step.kind === 'restore') {
            table = ClientTable.fromEntries(table.entries());
            continue;
          }
          const clientId = `c${step.client}`;
          const requestNumber = (requestNumbers.get(clientId) ?? 0) + 1;
          requestNumbers.set(clientId, requestNumber);
          const session: ClientSession = { requestNumber, result: 'x'.repeat(step.resultLength), opNumber: requestNumber };
          const recorded = table.record(clientId, session, bounds);
          table = recorded.table;
          const previous = model.get(clientId);
          if (previous !== undefined) modelBytes -= bytesOf(clientId, previous);
          model.delete(clientId);
          model.set(clientId, session);
          modelBytes += bytesOf(clientId, session);
          const evicted: string[] = [];
          while (model.size > 1 && (model.size > sessionsMax || modelBytes > bytesMax)) {
            const [oldestId, oldest] = model.entries().next().value as [string, ClientSession];
            if (oldestId === clientId) break;
            model.delete(oldestId);
            modelBytes -= bytesOf(oldestId, oldest);
            evicted.push(oldestId);
          }
          expect(recorded.evicted).toEqual(evicted);
          expect(table.entries()).toEqual([...model.entries()]);
          expect(table.bytes).toBe(modelBytes);
        }
      }),
    );
  });
});
