/**
 * `npx tsx packages/simulator/bench/machines.bench.ts [SEEDS]`: the simulator's events per second
 * with a user's machine (the bank example of test/bank) against the built-in key-value one, on
 * the same seeds, faults, clients and requests, alternating, checker included. A script that
 * prints numbers, not a test.
 */
import { simulate } from '../src/index.js';
import { bankMachine, bankModel, bankWorkload } from '../test/bank/bank.js';

const seeds = Number(process.argv[2] ?? 40);
const base = { replicaCount: 3, clientCount: 4, requests: 300, faults: ['swarm' as const], trace: false };
const totals = { kv: { events: 0, ms: 0 }, bank: { events: 0, ms: 0 } };
for (let seed = 1; seed <= seeds; seed++) {
  for (const name of ['kv', 'bank'] as const) {
    const started = performance.now();
    const { summary } = name === 'kv' ? simulate({ ...base, seed }) : simulate({ ...base, seed, machine: bankMachine, workload: bankWorkload, model: bankModel });
    totals[name].ms += performance.now() - started;
    totals[name].events += summary.events;
    if (summary.violations.length > 0) throw new Error(`${name} seed ${seed}: ${summary.violations.join('; ')}`);
  }
}
console.log(`${seeds} seeds, 3 replicas, 4 clients, 300 requests each, swarm faults; wall time includes each run's checker`);
for (const [name, { events, ms }] of Object.entries(totals)) {
  console.log(`${name.padEnd(5)} ${events.toLocaleString('en-US')} events in ${ms.toFixed(0)} ms: ${Math.round((events / ms) * 1000).toLocaleString('en-US')} events/s`);
}
