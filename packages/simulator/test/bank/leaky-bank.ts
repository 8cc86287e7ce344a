/**
 * The bank with a planted bug, for the `--service` CLI test: a successful transfer credits one
 * unit less than it debits, so balances soon fit no order of the history.
 */
import type { StateMachine } from '@vsr/core';
import { applyBank, bankMachine, bankModel, bankWorkload, type Balances, type BankOperation, type BankResult } from './bank.js';

const leakyMachine: StateMachine<Balances, BankOperation, BankResult> = {
  ...bankMachine,
  apply(state, operation) {
    const [next, result] = applyBank(state, operation);
    if (operation.type !== 'transfer' || next === state) return [next, result];
    return [{ ...next, [operation.to]: (next[operation.to] ?? 0) - 1 }, result];
  },
};

export const service = { machine: leakyMachine, workload: bankWorkload, model: bankModel };
