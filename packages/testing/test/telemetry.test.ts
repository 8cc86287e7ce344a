/**
 * Telemetry: every event name the core declares is emitted by some step of
 * an ordinary life (requests, a lost Prepare, a gap, a primary crash, a
 * stalled view change, a truncation, a lost disk), and each carries the replica, view, op
 * and commit numbers.
 */
import { expect, test } from 'vitest';
import { TELEMETRY_NAMES, Telemetry, TelemetryPayloads } from '@vsr/core';
import { kvMachine } from '@vsr/kv';
import { Cluster } from '../src/index.js';

test('every telemetry event is emitted, named under vsr., with view, op and commit numbers', () => {
  const cluster = new Cluster({ replicaCount: 3, machine: kvMachine, limits: { clientTableMax: 1, checkpointIntervalOps: 2 } });
  cluster.request(0, 'a', 0);
  cluster.deliverAll();
  cluster.request(0, 'a', 0); // A duplicate.
  cluster.request(0, 'b', 0); // Evicts a.
  cluster.drop((envelope) => envelope.to === 2); // Replica 2 misses op 2 …
  cluster.fire(0, 'prepare-retry'); // … the primary retransmits to it; that one is lost too.
  cluster.drop((envelope) => envelope.to === 2);
  cluster.deliverAll();
  cluster.fire(0, 'heartbeat'); // … and the heartbeat tells it that it lags: state transfer.
  cluster.deliverAll();
  cluster.handle(1, { kind: 'message', message: { type: 'nonsense' } });
  cluster.read(0, 'a', 1, { type: 'read', key: 'k' }); // A read without the log: a confirmation round.
  cluster.deliverAll();
  // Op 3 reaches nobody but the primary, which then crashes and restarts with it.
  cluster.request(0, 'b', 1, { type: 'write', key: 'k', value: 1 });
  cluster.drop(() => true);
  cluster.crash(0);
  cluster.fire(1, 'primary-timeout');
  cluster.fire(1, 'view-change-timeout');
  cluster.deliverAll();
  cluster.restart(0); // Op 3 was never committed; the new view's log truncates it.
  cluster.deliverAll();
  cluster.fire(2, 'heartbeat');
  cluster.deliverAll();
  // A backup that suspects the primary makes it step down.
  cluster.fire(1, 'primary-timeout');
  cluster.deliverAll();
  // A replica loses its disk and recovers.
  // Replica 0, the primary of view 3, loses its disk: the others move to view 4, then it recovers.
  cluster.wipe(0);
  cluster.restart(0);
  cluster.deliverAll();
  cluster.fire(1, 'primary-timeout');
  cluster.deliverAll();
  cluster.fire(0, 'recovery-retry');
  cluster.deliverAll();

  const emitted = new Set(cluster.telemetry.map((event) => event.name));
  const missing = TELEMETRY_NAMES.filter((name) => !emitted.has(name));
  expect(missing).toEqual([]);
  for (const event of cluster.telemetry) {
    expect(Telemetry.is(event)).toBe(true);
    expect(event.name.startsWith('vsr.')).toBe(true);
    // Exactly its name's payload: decoding keeps every field (an extra one would be stripped, a missing or mistyped one refused).
    const decoded = TelemetryPayloads[event.name].decode(event.data);
    expect(decoded._tag === 'Right' ? decoded.right : `${event.name}: ${JSON.stringify(event.data)} does not decode`).toEqual(event.data);
  }
  // The view change's two sides give the same fields.
  expect(Object.keys(cluster.telemetryNamed('vsr.view_change.complete').at(-1)!.data).sort()).toEqual(['chosenFrom', 'primary', 'votes']);
  const advance = cluster.telemetryNamed('vsr.commit.advance', 1)[0]!;
  expect(advance.data).toEqual({ from: 0, to: 1 });
});
