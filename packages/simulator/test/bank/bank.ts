/**
 * A worked example of a user's own service: bank accounts with transfers (the total never
 * changes), its workload and its model for the checker.
 */
import * as t from 'io-ts';
import type { StateMachine } from '@vsr/core';
import type { Model, Workload } from '../../src/model.js';

export const ACCOUNTS = ['a', 'b', 'c'] as const;
export const OPENING_BALANCE = 100;

const operationCodec = t.union([
  t.type({ type: t.literal('balance'), account: t.string }),
  t.type({ type: t.literal('transfer'), from: t.string, to: t.string, amount: t.number }),
]);
export type BankOperation = t.TypeOf<typeof operationCodec>;
/** A balance, or whether the transfer happened (refused when funds are short). */
export type BankResult = { balance: number } | { ok: boolean };
export type Balances = Readonly<Record<string, number>>;

const opening = (): Balances => Object.fromEntries(ACCOUNTS.map((account) => [account, OPENING_BALANCE]));

/** The sequential semantics, shared by the machine and the model. */
export function applyBank(state: Balances, operation: BankOperation): [Balances, BankResult] {
  if (operation.type === 'balance') return [state, { balance: state[operation.account] ?? 0 }];
  const { from, to, amount } = operation;
  if (from === to || (state[from] ?? 0) < amount) return [state, { ok: false }];
  return [{ ...state, [from]: (state[from] ?? 0) - amount, [to]: (state[to] ?? 0) + amount }, { ok: true }];
}

export const bankMachine: StateMachine<Balances, BankOperation, BankResult> = {
  name: 'bank',
  operation: operationCodec,
  init: opening,
  apply: (state, operation) => applyBank(state, operation),
  snapshot: (state) => state,
  restore: (snapshot) => snapshot as Balances,
};

export const bankWorkload: Workload<BankOperation, BankResult> = {
  name: 'bank',
  next(random, client) {
    // Now and then a client pauses: idle periods in which the cluster must stay quiet.
    if (client.completed > 0 && random.chance(0.02)) return null;
    if (random.chance(0.4)) return { type: 'balance', account: random.pick(ACCOUNTS) };
    return { type: 'transfer', from: random.pick(ACCOUNTS), to: random.pick(ACCOUNTS), amount: random.int(1, 60) };
  },
};

export const bankModel: Model<Balances, BankOperation, BankResult> = {
  name: 'bank',
  init: opening,
  step(state, input, output) {
    const [next, result] = applyBank(state, input);
    return output === undefined || JSON.stringify(output) === JSON.stringify(result) ? [next] : [];
  },
  stateKey: (state) => ACCOUNTS.map((account) => state[account]).join(','),
  describeOperation: (operation) => `${operation.clientId} ${JSON.stringify(operation.input)} → ${JSON.stringify(operation.output)}`,
};

/** The three together, as `npm run sim -- --service packages/simulator/test/bank/bank.ts` loads them. */
export const service = { machine: bankMachine, workload: bankWorkload, model: bankModel };
