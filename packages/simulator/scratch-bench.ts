import { applyKv, kvMachine } from '@vsr/kv';
import type { KvOperation, KvResult, KvState, Value } from '@vsr/kv';
import { checkLinearizability } from './src/linearizability.js';
import type { HistoryOperation } from './src/linearizability.js';
type StepSpec = { fate: 'ok' | 'applied' | 'lost' };
const read = (key: string): KvOperation => ({ type: 'read', key });
const write = (key: string, value: Value): KvOperation => ({ type: 'write', key, value });
const cas = (key: string, expected: Value, value: Value): KvOperation => ({ type: 'cas', key, expected, value });
const del = (key: string): KvOperation => ({ type: 'delete', key });
/** mulberry32: a small deterministic PRNG for the large history. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `opCount` ops from `clientCount` clients, each with one op outstanding at a
 * time, over five keys. Every op takes effect at an instant inside its
 * interval; 3% time out (indeterminate), half of those never taking effect.
 */
function clientHistory(seed: number, opCount: number, clientCount: number): HistoryOperation[] {
  const random = prng(seed);
  const below = (n: number) => Math.floor(random() * n);
  const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];
  const values: Value[] = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? i : `v${i}`));
  const pick = <T>(items: readonly T[]): T => items[below(items.length)]!;
  const clientFreeAt = Array.from({ length: clientCount }, () => below(10));
  const planned: { id: number; clientId: string; operation: KvOperation; callMs: number; instantMs: number; returnMs: number; fate: StepSpec['fate'] }[] = [];
  for (let id = 1; id <= opCount; id++) {
    const client = clientFreeAt.indexOf(Math.min(...clientFreeAt));
    const key = pick(keys);
    const kind = below(10);
    const operation: KvOperation =
      kind < 4 ? read(key) : kind < 7 ? write(key, pick(values)) : kind < 9 ? cas(key, pick(values), pick(values)) : del(key);
    const callMs = clientFreeAt[client]!;
    const instantMs = callMs + 1 + below(20);
    const returnMs = instantMs + below(20);
    const roll = random();
    const fate = roll < LOST ? 'lost' : roll < 2 * LOST ? 'applied' : 'ok';
    planned.push({ id, clientId: `client${client}`, operation, callMs, instantMs, returnMs, fate });
    clientFreeAt[client] = (fate === 'ok' ? returnMs : callMs + 50) + below(5);
  }
  let state: KvState = kvMachine.init();
  const results = new Map<number, KvResult>();
  for (const op of [...planned].sort((a, b) => a.instantMs - b.instantMs || a.id - b.id)) {
    if (op.fate === 'lost') continue;
    const [next, result] = applyKv(state, op.operation);
    state = next;
    results.set(op.id, result);
  }
  return planned.map((op) =>
    op.fate === 'ok'
      ? { id: op.id, clientId: op.clientId, operation: op.operation, callMs: op.callMs, returnMs: op.returnMs, outcome: { type: 'ok', result: results.get(op.id)! } }
      : { id: op.id, clientId: op.clientId, operation: op.operation, callMs: op.callMs, returnMs: null, outcome: { type: 'indeterminate' } },
  );
}


const LOST = Number(process.env.LOST ?? '0.015');
for (const [clients, n] of [[10, 2000], [10, 2000], [20, 2000], [10, 10000]] as const) {
  for (const seed of [1, 2, 3]) {
    const h = clientHistory(seed * 7919, n, clients);
    let t = performance.now();
    const r = checkLinearizability(h);
    const okMs = performance.now() - t;
    const victim = h.findLast((op) => op.operation.type === 'read' && op.outcome.type === 'ok')!;
    const bad = h.map((op) => (op === victim ? { ...op, outcome: { type: 'ok' as const, result: { ok: true, value: 'nope' } as KvResult } } : op));
    t = performance.now();
    const r2 = checkLinearizability(bad);
    const badMs = performance.now() - t;
    const mid = h.filter((op) => op.operation.type === 'read' && op.outcome.type === 'ok')[200]!;
    const bad2 = h.map((op) => (op === mid ? { ...op, outcome: { type: 'ok' as const, result: { ok: true, value: 'nope' } as KvResult } } : op));
    t = performance.now();
    const r3 = checkLinearizability(bad2);
    const bad2Ms = performance.now() - t;
    console.log(clients, n, seed, r.linearizable, okMs.toFixed(1), r2.linearizable, r2.exhausted, badMs.toFixed(1), r3.linearizable, r3.exhausted, bad2Ms.toFixed(1), r3.counterexample?.explanation.slice(0, 400));
  }
}
