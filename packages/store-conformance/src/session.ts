/**
 * One run of a property: the places it made and the stores it opened, each crashed or closed
 * when the run ends however it ends, so a failing run leaves no open handle behind. A run
 * drives its store the way group commit does: effects applied, one flush at a time.
 */
import type { Effect } from '@vsr/core';
import type { ReplicaStore } from '@vsr/runtime';
import type { StoreAdapter } from './adapter.js';
import { applyEffect, canonicalBoot, bootOf, cloneDurable, describeBoot, describeDurable, effectsOf, emptyDurable, type Durable, type Move } from './model.js';

/** Fails the property (fast-check reports the message with the counterexample). */
export function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new Error(message());
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** A store and the model of what it holds: durable, buffered, and the effects no flush has taken yet. */
export interface Driven {
  readonly store: ReplicaStore;
  durable: Durable;
  buffered: Durable;
  pending: Effect[];
}

export const drive = (store: ReplicaStore, durable: Durable): Driven => ({ store, durable, buffered: cloneDurable(durable), pending: [] });

export class Session<Place> {
  private readonly places: Place[] = [];
  private readonly open = new Set<ReplicaStore>();

  constructor(private readonly adapter: StoreAdapter<Place>) {}

  async place(): Promise<Place> {
    const place = await this.adapter.place();
    this.places.push(place);
    return place;
  }

  async openAt(place: Place, create: boolean): Promise<ReplicaStore> {
    const store = await this.adapter.open(place, { create });
    this.open.add(store);
    return store;
  }

  /** Crashes the store, waits for the flush it was in (if any) to settle, one way or the other. */
  async crash(store: ReplicaStore, flushing: Promise<unknown> | null = null): Promise<void> {
    this.open.delete(store);
    await this.adapter.crash(store);
    await flushing?.catch(() => undefined);
    await store.settle().catch(() => undefined);
  }

  async close(store: ReplicaStore): Promise<void> {
    this.open.delete(store);
    await store.close();
  }

  /** Opens a store just created with its cluster, its first header flushed (as a replica's first step does). */
  async started(place: Place): Promise<Driven> {
    const store = await this.openAt(place, true);
    check(store.report.boot === null, () => `a store just created hands back ${describeBoot(store.report.boot)}, not nothing`);
    check(store.report.damage === null, () => `a store just created reports damage: ${store.report.damage}`);
    const driven = drive(store, emptyDurable());
    applyMoves(driven, [{ kind: 'header', viewsAhead: 0, normalBehind: 0 }]);
    await flushDriven(driven);
    return driven;
  }

  /** Reopens `place` and checks it hands back exactly `durable`, with no damage and no torn tail. */
  async reopenExpecting(place: Place, durable: Durable, create = false, after = 'reopened'): Promise<ReplicaStore> {
    const store = await this.openAt(place, create);
    const { report } = store;
    check(report.damage === null, () => `${after}, the store reports damage: ${report.damage}`);
    check(!report.tornTail, () => `${after}, the store reports a torn tail, but every write was whole`);
    const [found, wanted] = [canonicalBoot(report.boot), canonicalBoot(bootOf(durable))];
    check(found === wanted, () => `${after}, the store hands back ${describeBoot(report.boot)}; what was flushed is ${describeDurable(durable)}\n  found:  ${found}\n  wanted: ${wanted}`);
    return store;
  }

  /** Crashes whatever is still open and disposes of every place, whatever happened. */
  async finish(): Promise<void> {
    for (const store of [...this.open]) await this.crash(store).catch(() => undefined);
    for (const place of this.places.splice(0)) await this.adapter.dispose?.(place);
  }
}

/** Applies moves to the store and to its buffered model alike; returns the effects applied. */
export function applyMoves(driven: Driven, moves: readonly Move[]): Effect[] {
  const applied: Effect[] = [];
  for (const move of moves) {
    for (const effect of effectsOf(driven.buffered, move)) {
      driven.store.apply(effect);
      applyEffect(driven.buffered, effect);
      driven.pending.push(effect);
      applied.push(effect);
    }
  }
  return applied;
}

/**
 * Starts a flush as group commit does (only when the store says it is dirty), taking every
 * effect buffered so far; `landed` resolves once it and the checkpoints written in its
 * background have ended, and only then counts what it took as durable.
 */
export function startFlush(driven: Driven): { readonly taken: Effect[]; readonly landed: Promise<void> } {
  const flushed = cloneDurable(driven.buffered);
  const taken = driven.pending;
  driven.pending = [];
  const writing = driven.store.dirty ? driven.store.flush() : Promise.resolve();
  const landed = (async () => {
    try {
      await writing;
      await driven.store.settle();
    } catch (error) {
      throw new Error(`a flush failed: ${errorText(error)}`);
    }
    driven.durable = flushed;
  })();
  return { taken, landed };
}

/** One flush, and the checkpoints written in its background: then all that was buffered is durable. */
export async function flushDriven(driven: Driven): Promise<void> {
  await startFlush(driven).landed;
}

/** A store's report says it boots as lost. */
export const bootsLost = (store: ReplicaStore): boolean => {
  const boot = store.report.boot;
  return boot !== null && 'lost' in boot;
};

/** Runs `body` in a session, always finishing it. */
export async function inSession<Place>(adapter: StoreAdapter<Place>, body: (session: Session<Place>) => Promise<void>): Promise<void> {
  const session = new Session(adapter);
  try {
    await body(session);
  } finally {
    await session.finish();
  }
}
