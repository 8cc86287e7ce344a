/**
 * Upgrades: a machine declares its snapshot version and how to migrate older snapshots. A
 * replica restarted on the new machine migrates the checkpoint it stored; one that cannot (no
 * migrate), or an old replica handed a newer checkpoint, refuses it with the reason.
 */
import { describe, expect, test } from 'vitest';
import { kvMachine, type KvState } from '@vsr/kv';
import { ConfigError, initialState, type StateMachine } from '@vsr/core';
import { Map as ImmutableMap } from 'immutable';
import type { Cluster } from '../src/index.js';
import { checkpointingCluster as cluster, writes } from './checkpoint-support.js';

/** Version 2 of the key-value snapshot: an object `{ entries: { key: value } }` instead of version 0's sorted pairs. */
const kvV2: StateMachine<KvState> = {
  ...kvMachine,
  name: 'kv v2',
  snapshotVersion: 2,
  snapshot: (state) => ({ entries: Object.fromEntries(kvMachine.snapshot(state) as Array<[string, unknown]>) }),
  restore: (snapshot) => ImmutableMap((snapshot as { entries: Record<string, string | number> }).entries),
  migrate: (snapshot, fromVersion) => {
    if (fromVersion !== 0) throw new Error(`no migration from version ${fromVersion}`);
    return { entries: Object.fromEntries(snapshot as Array<[string, unknown]>) };
  },
};
const kvV2WithoutMigrate: StateMachine<KvState> = { ...kvV2, migrate: undefined };


const appOf = (c: Cluster, replica: number) => (c.states[replica]!.app.value as KvState).toJS();

describe('upgrades: snapshot versions and migrate', () => {
  test('a replica restarted on the new machine migrates its stored checkpoint, and its next checkpoints carry the new version', () => {
    const c = cluster();
    writes(c, 0, 1, 10);
    expect(c.states[1]!.checkpoint!.value).not.toHaveProperty('snapshotVersion'); // version 0 is left out
    c.crash(1);
    c.restart(1, undefined, kvV2);
    expect(c.states[1]).toMatchObject({ status: 'normal', commitNumber: 8 });
    expect(appOf(c, 1)).toEqual({ k0: 6, k1: 7, k2: 5 });
    writes(c, 0, 11, 6);
    expect(appOf(c, 1)).toEqual(appOf(c, 0));
    const checkpoint = c.states[1]!.checkpoint!.value;
    expect(checkpoint).toMatchObject({ opNumber: 16, snapshotVersion: 2, snapshot: { entries: { k0: 15, k1: 13, k2: 14 } } });
  });

  test('a replica whose machine has a newer version but no migrate refuses its stored checkpoint, and says why', () => {
    const c = cluster();
    writes(c, 0, 1, 10);
    c.crash(1);
    c.restart(1, undefined, kvV2WithoutMigrate);
    expect(c.states[1]!.status).toBe('booting');
    expect(c.rejects.filter((reject) => reject.replica === 1).map((reject) => reject.reason)).toEqual([
      'boot.storage.checkpoint: could not be restored (its snapshot is version 0, and the machine kv v2 (version 2) has no migrate to bring it to 2)',
    ]);
  });

  test('an old replica handed a checkpoint of a newer version refuses it, and says to upgrade', () => {
    const c = cluster();
    c.isolate(2);
    // Replicas 0 and 1 are upgraded, one at a time; 2, cut off, still runs the old machine.
    for (const replica of [1, 0]) {
      c.crash(replica);
      c.restart(replica, undefined, kvV2);
    }
    c.fire(1, 'primary-timeout');
    c.deliverAll();
    const primary = c.primary();
    expect(primary).toBeDefined();
    writes(c, primary!, 1, 14); // new checkpoints, of version 2
    c.heal();
    c.fire(primary!, 'heartbeat');
    c.deliverAll();
    const reasons = c.rejects.filter((reject) => reject.replica === 2).map((reject) => reject.reason);
    expect(reasons.some((reason) => /its snapshot is version 2, newer than this machine's kv \(version 0\): upgrade this replica's machine/.test(reason))).toBe(true);
    expect(c.states[2]!.commitNumber).toBe(0); // it installed nothing it could not read
  });

  test('a snapshot version that is not a non-negative integer is refused at construction', () => {
    expect(() => initialState({ replicaId: 0, replicaCount: 1 }, { ...kvMachine, snapshotVersion: -1 })).toThrow(ConfigError);
    expect(() => initialState({ replicaId: 0, replicaCount: 1 }, { ...kvMachine, snapshotVersion: 1.5 })).toThrow(/snapshotVersion must be a non-negative integer, got 1.5/);
  });
});
