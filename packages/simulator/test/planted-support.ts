/**
 * What the planted-bug tests share: run seeds until one reports a violation, and require that
 * it reports exactly one, of the kind the bug must cause.
 */
import { expect } from 'vitest';
import type { SimulationOptions, SimulationSummary } from '../src/index.js';

export interface Caught {
  readonly seed: number;
  readonly summary: SimulationSummary;
}

/**
 * The first of seeds 1..seedsMax with a violation, under `defaults` then `options`. The
 * simulator is imported afresh, after the test's `vi.doMock` of a core module has taken effect.
 */
export async function firstViolation(seedsMax: number, defaults: Partial<SimulationOptions>, options: Partial<SimulationOptions> = {}): Promise<Caught | undefined> {
  const { simulate } = await import('../src/index.js');
  for (let seed = 1; seed <= seedsMax; seed++) {
    const { summary } = simulate({ seed, replicaCount: 3, clientCount: 4, requests: 200, faults: ['swarm'], ...defaults, ...options });
    if (summary.violations.length > 0) return { seed, summary };
  }
  return undefined;
}

/** The violations of the first failing seed: exactly one, of the kind given. */
export function expectOnly(caught: Caught | undefined, kind: RegExp): void {
  expect(caught, 'no seed reported a violation').toBeDefined();
  expect(caught?.summary.violations).toEqual([expect.stringMatching(kind)]);
}
