/** Shared by the check-*.test.ts files: a brute-force checker and a generator of register histories. */
import fc from 'fast-check';
import type { Model, ModelOperation } from '../src/model.js';
import type { RegisterInput, RegisterOutput, RegisterValue } from '../src/check/register-model.js';

/** An operation of client `c<id>`: the one-client-per-op histories the model tests write by hand. */
export function operationOf<I, O>(id: number, input: I, callMs: number, returnMs: number | null, output?: O): ModelOperation<I, O> {
  return { id, clientId: `c${id}`, input, callMs, returnMs, output };
}

/**
 * Every order of the ops that respects real time (a determinate op that returned before
 * another was called comes first), with each indeterminate op placed somewhere or never.
 * No memo, no pruning: slow and obviously right, for histories of up to about 7 ops.
 */
export function bruteForceLinearizable<S, I, O>(model: Model<S, I, O>, history: readonly ModelOperation<I, O>[]): boolean {
  const mustPrecede = (a: ModelOperation<I, O>, b: ModelOperation<I, O>): boolean => a.returnMs !== null && a.returnMs < b.callMs;
  const search = (states: readonly S[], left: readonly ModelOperation<I, O>[]): boolean => {
    if (left.every((op) => op.returnMs === null)) return true;
    return left.some((op) => {
      if (left.some((other) => other !== op && mustPrecede(other, op))) return false;
      const rest = left.filter((other) => other !== op);
      const nexts = states.flatMap((state) => model.step(state, op.input, op.output));
      return (nexts.length > 0 && search(nexts, rest)) || (op.returnMs === null && search(states, rest));
    });
  };
  return search([model.init()], history);
}

export type Fate = 'ok' | 'applied' | 'lost';

export interface RegisterStep {
  readonly input: RegisterInput;
  readonly clientIndex: number;
  /** How far the effect point is after the previous one, and how far the interval reaches either side. */
  readonly gap: number;
  readonly callSlack: number;
  readonly returnSlack: number;
  readonly fate: Fate;
  /** For a failed cas: record only `{ ok: false }`. */
  readonly partialFailure: boolean;
}

const valueArb = fc.constantFrom<RegisterValue>(null, 1, 2, 3);
export const registerInputArb: fc.Arbitrary<RegisterInput> = fc.oneof(
  fc.constant({ type: 'read' as const }),
  valueArb.filter((value) => value !== null).map((value) => ({ type: 'write' as const, value })),
  fc.record({ type: fc.constant('cas' as const), expected: valueArb, value: valueArb.filter((value) => value !== null) }),
);

export const registerStepArb: fc.Arbitrary<RegisterStep> = fc.record({
  input: registerInputArb,
  clientIndex: fc.nat(3),
  gap: fc.nat(3),
  callSlack: fc.nat(6),
  returnSlack: fc.nat(6),
  fate: fc.oneof({ arbitrary: fc.constant<Fate>('ok'), weight: 6 }, { arbitrary: fc.constant<Fate>('applied'), weight: 1 }, { arbitrary: fc.constant<Fate>('lost'), weight: 1 }),
  partialFailure: fc.boolean(),
});

/**
 * Runs the register sequentially: each op takes effect at its effect point (`gap` after the
 * previous one) and its interval is drawn around that point, so the history is linearizable by
 * construction. A 'lost' op never takes effect; 'applied' and 'lost' ops are indeterminate.
 */
export function runRegister(steps: readonly RegisterStep[]): ModelOperation<RegisterInput, RegisterOutput>[] {
  let value: RegisterValue = null;
  let pointMs = 0;
  return steps.map((step, id) => {
    pointMs += step.gap;
    const callMs = pointMs - step.callSlack;
    const base = { id, clientId: `c${step.clientIndex}`, input: step.input, callMs };
    if (step.fate === 'lost') return { ...base, returnMs: null, output: undefined };
    const before: RegisterValue = value;
    let output: RegisterOutput;
    if (step.input.type === 'read') output = { ok: true, value: before };
    else if (step.input.type === 'write') {
      value = step.input.value;
      output = { ok: true };
    } else if (before === step.input.expected) {
      value = step.input.value;
      output = { ok: true };
    } else output = step.partialFailure ? { ok: false } : { ok: false, actual: before };
    if (step.fate === 'applied') return { ...base, returnMs: null, output: undefined };
    return { ...base, returnMs: pointMs + step.returnSlack, output };
  });
}
