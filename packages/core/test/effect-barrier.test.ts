/**
 * The effect barrier (rule 2 of the effect contract): an outgoing effect
 * leaves only once every write before it is durable, and held effects leave
 * in the order they were produced.
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { EffectBarrier } from '../src/index.js';

describe('EffectBarrier', () => {
  test('with nothing written, a send leaves at once', () => {
    const barrier = new EffectBarrier<string>();
    expect(barrier.admit('a')).toBe(true);
    expect(barrier.heldCount).toBe(0);
  });

  test('a send after a write waits until that write is durable, then leaves', () => {
    const barrier = new EffectBarrier<string>();
    expect(barrier.write()).toBe(1);
    expect(barrier.admit('prepare-ok')).toBe(false);
    expect(barrier.durableThrough(0)).toEqual([]);
    expect(barrier.durableThrough(1)).toEqual(['prepare-ok']);
    expect(barrier.heldCount).toBe(0);
    // Everything is durable again: the next send leaves at once.
    expect(barrier.admit('commit')).toBe(true);
  });

  test('group commit: a flush of part of the writes releases exactly the sends that followed only those', () => {
    const barrier = new EffectBarrier<string>();
    barrier.write();
    barrier.admit('after 1');
    barrier.write();
    barrier.write();
    barrier.admit('after 3');
    barrier.admit('also after 3');
    barrier.write();
    barrier.admit('after 4');
    expect(barrier.durableThrough(2)).toEqual(['after 1']);
    expect(barrier.durableThrough(3)).toEqual(['after 3', 'also after 3']);
    expect(barrier.heldCount).toBe(1);
    expect(barrier.durableThrough(4)).toEqual(['after 4']);
  });

  test('a send never overtakes one held before it, even when it follows no new write', () => {
    const barrier = new EffectBarrier<string>();
    barrier.write();
    expect(barrier.admit('first')).toBe(false);
    expect(barrier.admit('second')).toBe(false);
    expect(barrier.durableThrough(1)).toEqual(['first', 'second']);
  });

  test('a crash loses what is held, and the new process numbers its writes from 1', () => {
    const barrier = new EffectBarrier<string>();
    barrier.write();
    barrier.admit('lost');
    barrier.reset();
    expect(barrier.heldCount).toBe(0);
    expect(barrier.writesQueued).toBe(0);
    expect(barrier.write()).toBe(1);
    barrier.admit('new');
    expect(barrier.durableThrough(1)).toEqual(['new']);
  });

  test('durability is a prefix that only grows: anything else is a bug in the interpreter', () => {
    const barrier = new EffectBarrier<string>();
    barrier.write();
    barrier.write();
    expect(() => barrier.durableThrough(3)).toThrow(/durable through write 3, with 0 durable of 2 written/);
    barrier.durableThrough(2);
    expect(() => barrier.durableThrough(1)).toThrow(/durable through write 1, with 2 durable of 2 written/);
    expect(() => barrier.durableThrough(1.5)).toThrow(/invariant/);
  });
});

/** One thing an interpreter does: a storage write, a send, an fsync of part of what is written, or a crash. */
type Command =
  | { readonly kind: 'write' }
  | { readonly kind: 'send' }
  | { readonly kind: 'sync'; readonly share: number }
  | { readonly kind: 'crash' };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'write' } as const) },
  { weight: 4, arbitrary: fc.constant({ kind: 'send' } as const) },
  { weight: 2, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map((share) => ({ kind: 'sync', share }) as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' } as const) },
);

interface Send {
  readonly id: number;
  /** Writes before it in the stream (of its process). */
  readonly writesBefore: number;
  readonly incarnation: number;
}

/** Runs the commands against the barrier and a model that knows which writes are durable; throws on any broken rule. */
function check(commands: readonly Command[], makeBarrier: () => EffectBarrier<Send> = () => new EffectBarrier<Send>()): void {
  const barrier = makeBarrier();
  let incarnation = 0;
  let written = 0;
  let durable = 0;
  let nextId = 0;
  const sent: Send[] = [];
  const leave = (send: Send) => {
    // Safety: every write before it is durable, and it comes from the live process.
    expect(send.incarnation, `send ${send.id} released after its process crashed`).toBe(incarnation);
    expect(send.writesBefore, `send ${send.id} left before write ${send.writesBefore} was durable (durable: ${durable})`).toBeLessThanOrEqual(durable);
    // Order: sends leave in the order they were produced.
    const previous = sent.at(-1);
    if (previous !== undefined && previous.incarnation === incarnation) expect(send.id, `send ${send.id} overtook send ${previous.id}`).toBeGreaterThan(previous.id);
    sent.push(send);
  };
  const produced: Send[] = [];
  for (const step of commands) {
    if (step.kind === 'write') written = barrier.write();
    else if (step.kind === 'send') {
      const send = { id: nextId++, writesBefore: written, incarnation };
      produced.push(send);
      if (barrier.admit(send)) leave(send);
    } else if (step.kind === 'sync') {
      durable += Math.round(step.share * (written - durable));
      for (const send of barrier.durableThrough(durable)) leave(send);
    } else {
      barrier.reset();
      incarnation++;
      [written, durable] = [0, 0];
    }
    // Promptness: nothing of the live process waits for a write that is already durable.
    const waiting = produced.filter((send) => send.incarnation === incarnation && !sent.includes(send));
    expect(waiting.filter((send) => send.writesBefore <= durable).map((send) => send.id), 'held with every write before them durable').toEqual([]);
    expect(barrier.heldCount).toBe(waiting.length);
  }
  // Once everything is durable, every send of the live process has left, each exactly once.
  durable = written;
  for (const send of barrier.durableThrough(durable)) leave(send);
  const live = produced.filter((send) => send.incarnation === incarnation).map((send) => send.id);
  expect(sent.filter((send) => send.incarnation === incarnation).map((send) => send.id)).toEqual(live);
}

describe('EffectBarrier, over random streams of writes, sends, partial syncs and crashes', () => {
  test('no send leaves before every write that preceded it is durable; sends leave in order, each once, as soon as they may', () => {
    const seed = Number(process.env['VSR_SEED'] ?? Date.now() % 1_000_000);
    console.log(`effect barrier property: VSR_SEED=${seed}`);
    fc.assert(
      fc.property(fc.array(command, { maxLength: 200 }), (commands) => check(commands)),
      { seed, numRuns: 300 },
    );
  });

  // The property has teeth: barriers broken on purpose fail it, each on the rule it breaks.
  const sync = (share: number): Command => ({ kind: 'sync', share });
  const [write, send] = [{ kind: 'write' } as const, { kind: 'send' } as const];

  test('a barrier that lets a send out before its write is durable fails the property', () => {
    class Leaky extends EffectBarrier<Send> {
      override admit(outgoing: Send): boolean {
        super.admit(outgoing);
        return true;
      }
    }
    expect(() => check([write, send], () => new Leaky())).toThrow(/send 0 left before write 1 was durable/);
  });

  test('a barrier that reorders the sends it releases fails the property', () => {
    class Reordering extends EffectBarrier<Send> {
      override durableThrough(writeNumber: number): Send[] {
        return super.durableThrough(writeNumber).reverse();
      }
    }
    expect(() => check([write, send, send, sync(1)], () => new Reordering())).toThrow(/send 0 overtook send 1/);
  });

  test('a barrier that keeps a send once its writes are durable fails the property', () => {
    class Stingy extends EffectBarrier<Send> {
      override durableThrough(writeNumber: number): Send[] {
        const released = super.durableThrough(writeNumber);
        return released.slice(1);
      }
    }
    expect(() => check([write, send, send, sync(1)], () => new Stingy())).toThrow(/held with every write before them durable/);
  });
});
