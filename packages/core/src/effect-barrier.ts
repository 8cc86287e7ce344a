/**
 * The effect barrier: rule 2 of the effect contract (docs/architecture.md) as
 * one small data structure that every interpreter shares, as they share
 * `applyLogEffect`. A replica's storage effects and its outgoing effects
 * (`send`, `reply`) form one ordered stream; an outgoing effect must not
 * leave before every storage write ahead of it in that stream is durable.
 * That is what makes a PrepareOk mean "I hold this op durably", and what
 * makes the view durable before a replica speaks in it (design rule 8 of
 * docs/protocol.md).
 *
 * The interpreter numbers nothing itself: it tells the barrier of each write
 * (`write`), offers each outgoing effect (`admit`), and says how far the
 * writes are durable (`durableThrough`, a prefix of the stream: storage makes
 * writes durable in order, whether one flush takes many steps' writes, as
 * in group commit, or a disk syncs part of them). The barrier answers which
 * held effects may leave, in the order the reducer produced them. It holds
 * the effects as opaque values and never runs them: no timers, no I/O.
 *
 * A `persist-checkpoint` that the interpreter writes in the background (the
 * contract's one relaxation) is not a write here: nothing waits for it.
 */
import { assert } from './assert.js';

interface Held<Outgoing> {
  /** The writes that must be durable before it leaves: those numbered 1..after. */
  readonly after: number;
  readonly outgoing: Outgoing;
}

export class EffectBarrier<Outgoing> {
  private writesQueuedCount = 0;
  private writesDurableCount = 0;
  /**
   * Outgoing effects waiting, oldest first. Invariants: `after` never
   * decreases along the queue (it is the write count when the effect was
   * admitted, which only grows), and every held effect has
   * `after > writesDurable` (`durableThrough` releases the others at once).
   */
  private held: Array<Held<Outgoing>> = [];

  /** Storage writes the stream has carried (since the start or the last `reset`). */
  get writesQueued(): number {
    return this.writesQueuedCount;
  }

  /** How many of them are durable: always a prefix of the stream. */
  get writesDurable(): number {
    return this.writesDurableCount;
  }

  /** Outgoing effects waiting for a write to become durable. */
  get heldCount(): number {
    return this.held.length;
  }

  /** A storage write joins the stream. Returns its number (1, 2, 3, …), which `durableThrough` refers to. */
  write(): number {
    this.writesQueuedCount++;
    return this.writesQueuedCount;
  }

  /**
   * An outgoing effect joins the stream. Returns true if it may leave now: every
   * write before it is durable. Otherwise the barrier holds it, and a later
   * `durableThrough` hands it back in its turn.
   */
  admit(outgoing: Outgoing): boolean {
    const after = this.writesQueuedCount;
    if (after <= this.writesDurableCount) {
      // Whatever waits needs a write that is not durable yet, so it waits behind
      // a write this effect follows: leaving now overtakes nothing.
      assert(this.held.length === 0, () => `effect barrier: ${this.held.length} held with every write durable`);
      return true;
    }
    this.held.push({ after, outgoing });
    return false;
  }

  /**
   * Writes 1..`writeNumber` are durable. Returns the held effects that may leave
   * now, in the order they were admitted; the caller sends them in that order.
   */
  durableThrough(writeNumber: number): Outgoing[] {
    assert(
      Number.isInteger(writeNumber) && writeNumber >= this.writesDurableCount && writeNumber <= this.writesQueuedCount,
      () => `effect barrier: durable through write ${writeNumber}, with ${this.writesDurableCount} durable of ${this.writesQueuedCount} written`,
    );
    this.writesDurableCount = writeNumber;
    let ready = 0;
    for (const held of this.held) {
      if (held.after > writeNumber) break;
      ready++;
    }
    if (ready === 0) return [];
    return this.held.splice(0, ready).map((held) => held.outgoing);
  }

  /** A crash: the held effects are lost with the process, and a new process numbers its writes from 1. */
  reset(): void {
    this.held = [];
    this.writesQueuedCount = 0;
    this.writesDurableCount = 0;
  }
}
