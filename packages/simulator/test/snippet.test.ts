/**
 * The snippet in docs/simulation.md ("Simulating your own service in 15 lines") is the region
 * below, character for character: the first test fails if they differ. Then it runs, on the
 * bank example (test/bank), and a planted bug in the user's machine makes it fail with a
 * shrunk fault schedule.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { faultScheduleArbitrary, simulate } from '../src/index.js';
import { bankMachine, bankModel, bankWorkload } from './bank/bank.js';

function propertyOf(machine: typeof bankMachine) {
  // #region snippet
  const service = { machine, workload: bankWorkload, model: bankModel };
  const property = fc.property(faultScheduleArbitrary({ replicaCount: 3, horizonMs: 2_000 }), (schedule) => {
    const { summary } = simulate({ ...service, seed: 1, replicaCount: 3, clientCount: 3, requests: 80, faults: ['none'], schedule });
    // Linearizable against the model, converged, each request once, live: or it says why.
    return summary.violations.length === 0;
  });
  // #endregion snippet
  return property;
}

const seed = Number(process.env['VSR_SEED'] ?? Date.now() % 1_000_000);

test('the snippet in docs/simulation.md is the code this test runs', () => {
  const source = readFileSync(new URL(import.meta.url), 'utf8');
  const region = /\/\/ #region snippet\n([\s\S]*?)\n\s*\/\/ #endregion snippet/.exec(source)?.[1] ?? '';
  const code = region.split('\n').map((line) => line.replace(/^ {2}/, '')).join('\n');
  const doc = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'simulation.md'), 'utf8');
  const block = /<!-- snippet: packages\/simulator\/test\/snippet\.test\.ts -->\n```ts\n([\s\S]*?)\n```/.exec(doc)?.[1];
  expect(block, 'docs/simulation.md has the snippet block').toBeDefined();
  expect(block).toBe(code);
});

test('the bank service passes the property under generated fault schedules', () => {
  console.log(`snippet property: VSR_SEED=${seed}`);
  fc.assert(propertyOf(bankMachine), { seed, numRuns: 12 });
}, 120_000);

test('a planted bug in the machine fails it, and fast-check shrinks the schedule', () => {
  // The bug: a transfer of the whole balance loses one unit (the model says totals never change).
  const leaky: typeof bankMachine = {
    ...bankMachine,
    apply: (state, operation, context) => {
      const [next, result] = bankMachine.apply(state, operation, context);
      if (operation.type !== 'transfer' || !('ok' in result) || !result.ok) return [next, result];
      return [{ ...next, [operation.to]: (next[operation.to] ?? 0) - 1 }, result];
    },
  };
  const details = fc.check(propertyOf(leaky), { seed, numRuns: 12 });
  console.log(`planted bug: failed after ${details.numRuns} runs, ${details.numShrinks} shrinks, counterexample ${JSON.stringify(details.counterexample)}`);
  expect(details.failed).toBe(true);
  // Shrunk: the bug needs no fault at all, so the schedule shrinks to (almost) nothing.
  expect(details.counterexample?.[0]?.length ?? Infinity).toBeLessThanOrEqual(1);
}, 120_000);
