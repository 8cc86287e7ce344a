/** What the checkpoint and upgrade scenarios share: a registered cluster that checkpoints every few ops, and a run of writes. */
import { kvMachine } from '@vsr/kv';
import { Cluster } from '../src/index.js';

export const INTERVAL = 4;

/** A cluster of kv replicas that checkpoints every INTERVAL ops, with client alice registered. */
export function checkpointingCluster(replicaCount = 3): Cluster {
  const c = new Cluster({ replicaCount, machine: kvMachine, limits: { checkpointIntervalOps: INTERVAL, pipelineMax: 2 } });
  c.request(0, 'alice', 0);
  c.deliverAll();
  return c;
}

/** Writes `count` values from request `from` on (key k(i mod 3), value i), each delivered, then a heartbeat. */
export function writes(c: Cluster, primary: number, from: number, count: number): void {
  for (let i = from; i < from + count; i++) {
    c.request(primary, 'alice', i, { type: 'write', key: `k${i % 3}`, value: i });
    c.deliverAll();
  }
  c.fire(primary, 'heartbeat');
  c.deliverAll();
}
