/**
 * The bank example under swarm faults: the user's machine, workload and model run like the
 * key-value defaults, and a planted bug in the user's machine is caught.
 */
import { describe, expect, test } from 'vitest';
import { checkModelHistory, simulate } from '../src/index.js';
import { ACCOUNTS, OPENING_BALANCE, bankMachine, bankModel, bankWorkload, type Balances } from './bank/bank.js';

const service = { machine: bankMachine, workload: bankWorkload, model: bankModel };
const run = (seed: number, machine = bankMachine) =>
  simulate({ ...service, machine, seed, replicaCount: 3, clientCount: 4, requests: 150, faults: ['swarm'], trace: false });

describe('a bank-account service', () => {
  test('runs under swarm faults without a violation; the total never changes', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const { summary, history } = run(seed);
      expect(summary.violations, `seed ${seed}`).toEqual([]);
      expect(summary.linearizable && summary.converged).toBe(true);
      expect(summary.requests_ok).toBeGreaterThan(100);
      expect(history.some((operation) => operation.operation.type === 'transfer' && operation.outcome.type === 'ok')).toBe(true);
    }
  });

  test('the model rejects a history with a balance that no order explains', () => {
    const { history } = run(1);
    const read = history.findIndex((operation) => operation.operation.type === 'balance' && operation.outcome.type === 'ok');
    const forged = history.map((operation, i) => (i === read ? { ...operation, outcome: { type: 'ok' as const, result: { balance: 10_000 } } } : operation));
    expect(read).toBeGreaterThanOrEqual(0);
    expect(checkModelHistory(bankModel, history).verdict).toBe('linearizable');
    expect(checkModelHistory(bankModel, forged).verdict).toBe('not-linearizable');
    expect(Object.values(bankMachine.init()).reduce((a, b) => a + b, 0)).toBe(ACCOUNTS.length * OPENING_BALANCE);
  });

  test('a non-deterministic apply is reported as such, naming the op', () => {
    let calls = 0;
    const flaky = {
      ...bankMachine,
      // Reads something outside the op: a counter of calls (as Date.now() or Math.random() would be).
      apply: (state: Balances, operation: Parameters<typeof bankMachine.apply>[1], context: Parameters<typeof bankMachine.apply>[2]) => {
        const [next, result] = bankMachine.apply(state, operation, context);
        return [next, operation.type === 'balance' && ++calls % 7 === 0 ? { balance: -1 } : result] as const;
      },
    };
    const { summary } = run(1, flaky);
    // The bad result a client saw also breaks linearizability, reported after it.
    expect(summary.violations[0]).toMatch(/^non-deterministic machine: op \d+ \(c\d+#\d+\) gave a different result/);
  });
});
