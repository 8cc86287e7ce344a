/**
 * Times the checker on histories the simulator produces under crashes (so with indeterminate
 * ops), 5–10 clients: `checkLinearizability` (the key-value API: whole results, explanations in
 * key-value terms), `checkHistory` with `kvModel` (partial outputs) and with `registerModel`.
 * All three run the one search of `src/check/search.ts`. Prints; not a test. Run:
 *   npx tsx packages/simulator/bench/check.bench.ts [seeds]
 */
import type { KvOperation } from '@vsr/kv';
import { checkLinearizability, simulate, type HistoryOperation } from '../src/index.js';
import { checkHistory } from '../src/check/search.js';
import { kvModel } from '../src/check/kv-model.js';
import { registerModel, type RegisterInput, type RegisterOutput } from '../src/check/register-model.js';
import { fromSimulatorHistory } from '../src/check/from-simulator.js';
import type { ModelOperation } from '../src/model.js';

const seeds = Number(process.argv[2] ?? 20);

/**
 * Each key's ops as a register history: a delete is a write of null (absent), and a failed
 * cas records only "failed", the partial output real test tools record.
 */
function registerHistories(history: readonly HistoryOperation[]): ModelOperation<RegisterInput, RegisterOutput>[][] {
  const byKey = new Map<string, ModelOperation<RegisterInput, RegisterOutput>[]>();
  for (const op of fromSimulatorHistory(history)) {
    const ops = byKey.get(op.input.key) ?? [];
    byKey.set(op.input.key, ops);
    ops.push({ ...op, input: toRegister(op.input), output: op.output === undefined ? undefined : toRegisterOutput(op.input, op.output) });
  }
  return [...byKey.values()];
}

function toRegister(input: KvOperation): RegisterInput {
  if (input.type === 'read') return { type: 'read' };
  if (input.type === 'write') return { type: 'write', value: input.value };
  if (input.type === 'cas') return { type: 'cas', expected: input.expected, value: input.value };
  return { type: 'write', value: null };
}

function toRegisterOutput(input: KvOperation, output: Record<string, unknown>): RegisterOutput {
  if (input.type === 'read') return output.ok === true ? { ok: true, value: output.value as number | string } : { ok: true, value: null };
  return output.ok === true ? { ok: true } : { ok: false };
}

function timeMs(run: () => unknown): number {
  const startedMs = performance.now();
  run();
  return performance.now() - startedMs;
}

let ops = 0;
let indeterminate = 0;
let oldMs = 0;
let newMs = 0;
let registerOps = 0;
let registerMs = 0;
let disagreements = 0;
for (let seed = 1; seed <= seeds; seed++) {
  const clientCount = 5 + (seed % 6);
  const { history: simulated } = simulate({ seed, replicaCount: 3, clientCount, requests: 2000, faults: ['all'] });
  // The simulator's clients rarely lose an outcome, so every 20th op also counts as one whose
  // client crashed before it learned the outcome (the op stays in flight: indeterminate).
  const history = simulated.map((op, index): HistoryOperation => (index % 20 === 7 ? { ...op, returnMs: null, outcome: { type: 'indeterminate' } } : op));
  ops += history.length;
  indeterminate += history.filter((op) => op.outcome.type === 'indeterminate').length;
  const converted = fromSimulatorHistory(history);
  let oldVerdict = false;
  let newVerdict = '';
  oldMs += timeMs(() => (oldVerdict = checkLinearizability(history).linearizable));
  newMs += timeMs(() => (newVerdict = checkHistory(kvModel, converted).verdict));
  if ((newVerdict === 'linearizable') !== oldVerdict) disagreements++;
  for (const register of registerHistories(history)) {
    registerOps += register.length;
    registerMs += timeMs(() => {
      if (checkHistory(registerModel, register).verdict !== 'linearizable') disagreements++;
    });
  }
}
const per1000 = (ms: number, count: number): string => (count === 0 ? 'n/a' : `${((ms / count) * 1000).toFixed(2)} ms`);
console.log(`${seeds} seeds, 3 replicas, faults all (crashes, wipes, partitions, ...), 5–10 clients, 2000 requests each: ${ops} ops (${indeterminate} indeterminate)`);
console.log(`kv histories   checkLinearizability:           ${per1000(oldMs, ops)} per 1,000 ops (${oldMs.toFixed(0)} ms total)`);
console.log(`kv histories   checkHistory(kvModel):          ${per1000(newMs, ops)} per 1,000 ops (${newMs.toFixed(0)} ms total)`);
console.log(`register histories (each key; failed cas partial) checkHistory(registerModel): ${per1000(registerMs, registerOps)} per 1,000 ops over ${registerOps} ops`);
console.log(`verdicts that disagree (or register histories refused): ${disagreements}`);
