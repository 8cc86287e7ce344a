/**
 * observe(state): the read-only view embedders and tests compare replicas with. It must agree
 * with the state it reads in every field, be frozen, and cost the same whatever the log holds.
 */
import { describe as suite, expect, test } from 'vitest';
import { checkReplicaInvariants, initialState, observe, type ReplicaState } from '../src/index.js';
import { counterMachine } from './counter.js';
import { Drive } from './drive.js';

/** Three replicas with `writes` ops committed after registration, checkpoints every 4 ops. */
function cluster(writes: number): Drive {
  const drive = new Drive(3, checkReplicaInvariants, { checkpointIntervalOps: 4 });
  for (let requestNumber = 0; requestNumber <= writes; requestNumber++) {
    drive.request(0, 'c', requestNumber, requestNumber === 0 ? null : 2);
    drive.deliverAll();
  }
  return drive;
}

/**
 * How many properties a function reads from the state and from every object reached through it.
 * The proxies wrap unfrozen copies, since a proxy of a frozen object must return its exact values.
 */
function readsOf(state: ReplicaState, read: (state: ReplicaState) => unknown): number {
  let reads = 0;
  const counting = (target: object): object => {
    const copy = Object.create(Object.getPrototypeOf(target) as object | null) as object;
    for (const key of Reflect.ownKeys(target)) {
      Object.defineProperty(copy, key, { value: Reflect.get(target, key) as unknown, writable: true, configurable: true, enumerable: true });
    }
    return new Proxy(copy, {
      get(object, key, receiver) {
        reads++;
        const value: unknown = Reflect.get(object, key, receiver);
        return value !== null && typeof value === 'object' ? counting(value) : value;
      },
    });
  };
  read(counting(state) as ReplicaState);
  return reads;
}

suite('observe', () => {
  test('a replica before boot: booting in view 0, nothing held, the machine at init', () => {
    const view = observe<number>(initialState({ replicaId: 2, replicaCount: 5 }, counterMachine));
    expect(view).toEqual({
      replicaId: 2,
      replicaCount: 5,
      status: 'booting',
      viewNumber: 0,
      lastNormalView: 0,
      primary: 0,
      opNumber: 0,
      commitNumber: 0,
      checkpointOpNumber: 0,
      app: 0,
    });
  });

  test('agrees with the state at the primary and at a backup that has not heard of the last commit', () => {
    const drive = cluster(9);
    // Registration and 9 writes: ops 1..10, checkpoints at ops 4 and 8.
    expect(observe<number>(drive.at(0))).toEqual({
      replicaId: 0, replicaCount: 3, status: 'normal', viewNumber: 0, lastNormalView: 0, primary: 0,
      opNumber: 10, commitNumber: 10, checkpointOpNumber: 8, app: 18,
    });
    const backup = observe<number>(drive.at(1));
    expect(backup).toMatchObject({ replicaId: 1, primary: 0, opNumber: 10, checkpointOpNumber: 8 });
    expect(backup.commitNumber).toBe(drive.at(1).commitNumber);
    expect(backup.app).toBe(drive.at(1).app.value);
  });

  test('follows a view change: the new view, its primary, and lastNormalView behind it until it is normal', () => {
    const drive = cluster(2);
    drive.crash(0);
    drive.fire(1, 'primary-timeout');
    expect(observe(drive.at(1))).toMatchObject({ status: 'view-change', viewNumber: 1, lastNormalView: 0, primary: 1 });
    drive.deliverAll();
    expect(observe(drive.at(1))).toMatchObject({ status: 'normal', viewNumber: 1, lastNormalView: 1, primary: 1, commitNumber: 3, app: 4 });
  });

  test('is frozen: assigning a field throws and changes nothing', () => {
    const view = observe<number>(cluster(1).at(0));
    expect(Object.isFrozen(view)).toBe(true);
    expect(() => {
      (view as { commitNumber: number }).commitNumber = 99;
    }).toThrow(TypeError);
    expect(view.commitNumber).toBe(2);
  });

  test('returns the application state itself, never a copy', () => {
    const state = cluster(3).at(0);
    expect(observe(state).app).toBe(state.app.value);
  });

  test('reads as many properties with 60 ops in the log as with 6: O(1)', () => {
    // Both have a checkpoint, whose op it reads.
    const small = readsOf(cluster(5).at(0), observe);
    const large = readsOf(cluster(59).at(0), observe);
    expect(small).toBeGreaterThan(5);
    expect(large).toBe(small);
  });
});
