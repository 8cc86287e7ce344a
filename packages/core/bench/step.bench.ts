/**
 * `pnpm bench:core`: drives the normal case of a three-replica cluster through
 * `step` (client request → Prepare ×2 → PrepareOk ×2, every message validated
 * by its codec) and prints steps per second with 1,000 and with 100,000
 * committed ops behind it. If the cost per step grew with history, the second
 * number would be far below the first.
 *
 * It also runs a hand-written, mutable baseline of the same path (no immer,
 * no validation, no effects as data) so the price of purity is visible.
 */
import { initialState, step, type Effect, type Event, type ReplicaState } from '../src/index.js';
import { counterMachine } from '../test/counter.js';


const CLIENTS = 1000;
const ROUNDS = 7;
const ROUND_OPS = 3_000;
const MEASURED_OPS = ROUNDS * ROUND_OPS;

class Driver {
  replicas: ReplicaState[];
  steps = 0;
  private requestNumbers = new Map<string, number>();

  constructor() {
    this.replicas = [0, 1, 2].map((replicaId) => initialState({ replicaId, replicaCount: 3 }, counterMachine));
    for (let r = 0; r < 3; r++) this.run(r, { kind: 'boot', storage: null });
    for (let c = 0; c < CLIENTS; c++) this.request(`client-${c}`, null);
  }

  /** One client request, carried to commit with every message delivered in order. */
  request(clientId: string, operation: number | null): void {
    const requestNumber = this.requestNumbers.get(clientId) ?? 0;
    this.requestNumbers.set(clientId, requestNumber + 1);
    let inbox: Array<[number, unknown]> = this.sends(0, this.run(0, { kind: 'client-request', request: { clientId, requestNumber, operation } }));
    while (inbox.length > 0) {
      const next: Array<[number, unknown]> = [];
      for (const [to, message] of inbox) next.push(...this.sends(to, this.run(to, { kind: 'message', message })));
      inbox = next;
    }
  }

  private run(replica: number, event: Event): Effect[] {
    const [state, effects] = step(this.replicas[replica]!, event);
    this.replicas[replica] = state;
    this.steps++;
    return effects;
  }

  private sends(_from: number, effects: Effect[]): Array<[number, unknown]> {
    const out: Array<[number, unknown]> = [];
    for (const effect of effects) if (effect.kind === 'send') out.push([effect.to, effect.message]);
    return out;
  }
}

function measure(driver: Driver, ops: number, print: boolean): number {
  const startSteps = driver.steps;
  const started = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) driver.request(`client-${i % CLIENTS}`, 1);
  const elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const perSecond = (driver.steps - startSteps) / elapsedSeconds;
  if (print) console.log(`${Math.round(perSecond)} steps/s`);
  return perSecond;
}

function fillTo(driver: Driver, opNumber: number): void {
  while (driver.replicas[0]!.log.lastOpNumber < opNumber) driver.request(`client-${driver.steps % CLIENTS}`, 1);
}

/** The same normal path, hand-written with mutable arrays and no validation: a lower bound. */
function baseline(historyOps: number): number {
  interface Replica { log: Array<{ op: number; clientId: string; requestNumber: number; operation: number }>; commit: number; app: number; table: Map<string, number>; acks: Map<number, Set<number>> }
  const replicas: Replica[] = [0, 1, 2].map(() => ({ log: [], commit: 0, app: 0, table: new Map(), acks: new Map() }));
  let steps = 0;
  const request = (clientId: string, requestNumber: number, operation: number) => {
    const primary = replicas[0]!;
    steps++;
    const entry = { op: primary.log.length + 1, clientId, requestNumber, operation };
    primary.log.push(entry);
    primary.acks.set(entry.op, new Set([0]));
    for (const backup of [1, 2]) {
      steps++;
      replicas[backup]!.log.push(entry);
      steps++;
      const acks = primary.acks.get(entry.op);
      if (acks === undefined) continue;
      acks.add(backup);
      if (acks.size >= 2) {
        primary.acks.delete(entry.op);
        primary.commit = entry.op;
        primary.app += operation;
        primary.table.set(clientId, requestNumber);
      }
    }
  };
  for (let i = 0; i < historyOps; i++) request(`client-${i % CLIENTS}`, i, 1);
  const startSteps = steps;
  const started = process.hrtime.bigint();
  for (let i = 0; i < MEASURED_OPS; i++) request(`client-${i % CLIENTS}`, historyOps + i, 1);
  const elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  return (steps - startSteps) / elapsedSeconds;
}

console.log(`normal case, 3 replicas, ${CLIENTS} clients, 5 steps per op; median of ${ROUNDS} interleaved rounds of ${ROUND_OPS.toLocaleString('en-US')} ops`);
const small = new Driver();
fillTo(small, 1_000);
const large = new Driver();
fillTo(large, 100_000);
measure(small, ROUND_OPS, false); // Warm-up for both.
measure(large, ROUND_OPS, false);
const smallRates: number[] = [];
const largeRates: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  smallRates.push(measure(small, ROUND_OPS, false));
  largeRates.push(measure(large, ROUND_OPS, false));
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const report = (label: string, perSecond: number) =>
  console.log(
    `${label.padEnd(44)} ${Math.round(perSecond).toLocaleString('en-US').padStart(10)} steps/s  ` +
      `${(1e6 / perSecond).toFixed(2).padStart(6)} µs/step  ${Math.round(perSecond / 5).toLocaleString('en-US').padStart(8)} ops/s`,
  );
report('step() with ~1,000 committed ops behind it', median(smallRates));
report('step() with ~100,000 committed ops behind it', median(largeRates));
console.log(`ratio (100,000 / 1,000): ${(median(largeRates) / median(smallRates)).toFixed(2)}  (1.00 = no growth with history)`);
const base = baseline(100_000);
console.log(`${'hand-written mutable baseline, same path'.padEnd(44)} ${Math.round(base).toLocaleString('en-US').padStart(10)} steps/s`);
console.log(`step() costs ${(base / median(largeRates)).toFixed(1)}× the baseline (validation, copy-on-write, effects as data)`);
