/**
 * `npm run demo`: a scripted three-replica key-value cluster, driven message
 * by message through the harness, printing what happens in readable text:
 * requests, a primary crash, a view change, more requests, a restart.
 */
import { kvMachine } from '@vsr/kv';
import { Cluster } from './cluster.js';

const cluster = new Cluster({ replicaCount: 3, machine: kvMachine });
let printed = 0;
let requestNumber = 0;

function chapter(title: string): void {
  console.log(`\n== ${title}`);
}

function showTrace(): void {
  for (; printed < cluster.trace.length; printed++) console.log(`   ${cluster.trace[printed]}`);
}

function showReplicas(): void {
  console.log('');
  for (const line of cluster.describe().split('\n')) console.log(`   ${line}`);
}

function request(replica: number, operation: unknown): void {
  cluster.request(replica, 'alice', requestNumber++, operation);
  cluster.deliverAll();
  showTrace();
}

console.log('vsr demo: Viewstamped Replication, three replicas, one key-value store.');
console.log('Every line below is one message, timer or client event; nothing runs unless the script says so.');

chapter('1. Client alice registers (request 0) and writes through the primary, replica 0');
request(0, null);
request(0, { type: 'write', key: 'x', value: 1 });
request(0, { type: 'cas', key: 'x', expected: 1, value: 2 });
cluster.fire(0, 'heartbeat');
cluster.deliverAll();
showTrace();
showReplicas();

chapter('2. A write reaches only replica 1; with the primary that is a majority, so it commits and alice is answered. Then the primary crashes');
cluster.request(0, 'alice', requestNumber, { type: 'write', key: 'y', value: 'late' });
cluster.drop((envelope) => envelope.to === 2);
cluster.deliverAll();
showTrace();
cluster.crash(0);
showTrace();

chapter('3. Replica 1 hears nothing from the primary and starts a view change to view 1; its log (with op 4) wins over replica 2\'s');
cluster.fire(1, 'primary-timeout');
cluster.deliverAll();
showTrace();
showReplicas();

chapter('4. alice, unsure, retries request #3 at the new primary: the client table answers it, no second execution');
request(1, { type: 'write', key: 'y', value: 'late' });
request(1, { type: 'read', key: 'x' });
request(1, { type: 'read', key: 'y' });

chapter('5. Replica 0 restarts from its storage and rejoins view 1 as a backup');
cluster.restart(0);
cluster.deliverAll();
cluster.fire(1, 'heartbeat');
cluster.deliverAll();
showTrace();
showReplicas();

const snapshots = cluster.states.map((state) => JSON.stringify(kvMachine.snapshot(state.app.value as never)));
const converged = snapshots.every((snapshot) => snapshot === snapshots[0]);
console.log(`\nAll three replicas hold ${snapshots[0]} — ${converged ? 'converged' : 'NOT converged'}.`);
console.log(`${cluster.stepCount} reducer steps, ${cluster.replies.length} client replies, ${cluster.rejects.length} rejected inputs.`);
if (!converged) process.exit(1);
