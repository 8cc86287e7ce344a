/**
 * The LMDB store beyond the conformance suite: one LMDB transaction per flush; an effect that
 * breaks the log's order refused before anything is written; the open semantics of the journal
 * store (create only when asked, no store boots as lost, damage boots as lost with the records
 * moved aside byte for byte and the store kept lost until a recovery writes a header, a format
 * this build does not know refused without a change); checksums over key and value; private
 * modes.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Checkpoint, Effect, LogEntry } from '@vsr/core';
import { StoreIncompatible, openLmdbStore } from '../src/index.js';
import { freshDirectory, opKey, recordsOf, removeDirectories, treeOf, withRawEnv } from './support/raw.js';

afterEach(removeDirectories);

const entry = (opNumber: number, viewNumber = 0): LogEntry => ({
  opNumber,
  viewNumber,
  timestampMs: opNumber,
  requests: [{ clientId: 'c', requestNumber: opNumber, operation: { type: 'write', key: 'k', value: opNumber } }],
});
const append = (opNumber: number): Effect => ({ kind: 'log-append', entry: entry(opNumber) });
const header = (viewNumber: number): Effect => ({ kind: 'persist-header', header: { viewNumber, lastNormalView: viewNumber } });
const checkpointAt = (opNumber: number): Checkpoint => ({ opNumber, viewNumber: 0, timestampMs: opNumber, snapshot: [['k', opNumber]], clientTable: [] });

/** A value sealed as the store seals it: CRC-32 of the key then the JSON, big-endian, then the JSON. */
function sealed(key: Buffer, json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  const checksum = Buffer.alloc(4);
  checksum.writeUInt32BE(crc32(body, crc32(key)));
  return Buffer.concat([checksum, body]);
}

/** A closed store holding ops 1..3 in view 0. */
async function threeOps(): Promise<string> {
  const directory = freshDirectory();
  const store = openLmdbStore(directory, { create: true });
  for (const effect of [header(0), append(1), append(2), append(3)]) store.apply(effect);
  await store.flush();
  await store.close();
  return directory;
}

const modeOf = (path: string) => statSync(path).mode & 0o777;

describe('the LMDB store', () => {
  test('a flush of many effects is one LMDB write transaction (the environment\'s transaction id moves by one)', async () => {
    const store = openLmdbStore(freshDirectory(), { create: true });
    const batch = vi.spyOn(store.environment, 'batch');
    const before = (store.environment.getStats() as { lastTxnId: number }).lastTxnId;
    store.apply(header(0));
    for (let op = 1; op <= 300; op++) store.apply(append(op));
    store.apply({ kind: 'persist-checkpoint', checkpoint: checkpointAt(200) });
    store.apply({ kind: 'log-release', opNumber: 200 });
    await store.flush();
    expect(batch).toHaveBeenCalledTimes(1);
    expect((store.environment.getStats() as { lastTxnId: number }).lastTxnId).toBe(before + 1);
    expect(store.dirty).toBe(false);
    await store.close();
  });

  test('an append out of order is refused before the transaction: nothing of that flush is written, and the store stops', async () => {
    const directory = await threeOps();
    const store = openLmdbStore(directory);
    store.apply(header(1));
    store.apply(append(5));
    await expect(store.flush()).rejects.toThrow('invariant: append of op 5 after op 3');
    store.apply(append(4));
    await expect(store.flush()).rejects.toThrow('invariant: append of op 5 after op 3');
    await store.close();
    expect(openLmdbStore(directory).report.boot).toEqual({ header: { viewNumber: 0, lastNormalView: 0 }, checkpoint: null, log: [entry(1), entry(2), entry(3)] });
  });

  test('a release no checkpoint covers is refused', async () => {
    const store = openLmdbStore(freshDirectory(), { create: true });
    for (const effect of [header(0), append(1), append(2), { kind: 'log-release', opNumber: 2 } as Effect]) store.apply(effect);
    await expect(store.flush()).rejects.toThrow('invariant: release of op 2 with no checkpoint covering it (the newest is at op 0)');
    await store.close();
  });

  test('a directory with no store boots as lost unless the replica is being created with its cluster', async () => {
    const lost = openLmdbStore(join(freshDirectory(), 'a', 'replica'), { nonce: () => 7 });
    expect(lost.report).toEqual({ boot: { lost: true, nonce: 7 }, tornTail: false, damage: 'the directory holds no store (lost, or never created with the cluster)' });
    await lost.close();
    const created = openLmdbStore(freshDirectory(), { create: true });
    expect(created.report).toEqual({ boot: null, tornTail: false, damage: null });
    await created.close();
  });
});

describe('damage: the store is refused, its records moved aside, and the replica boots as lost', () => {
  const cases: Array<[string, (env: Parameters<Parameters<typeof withRawEnv>[1]>[0]) => void, RegExp]> = [
    ['a flipped byte in a log record', (env) => env.log.putSync(opKey(2), Buffer.from(sealed(opKey(2), JSON.stringify(entry(2))).map((byte, i) => (i === 10 ? byte ^ 0x04 : byte)))), /^log\/2: checksum mismatch/],
    ['a record moved under another key', (env) => env.log.putSync(opKey(3), sealed(opKey(2), JSON.stringify(entry(2)))), /^log\/3: checksum mismatch/],
    ['a gap in the log', (env) => env.log.removeSync(opKey(2)), /^log\/3: op 3 where op 2 was expected \(a gap\)/],
    ['an entry that names another op', (env) => env.log.putSync(opKey(2), sealed(opKey(2), JSON.stringify(entry(7)))), /^log\/2: holds op 7/],
    ['a damaged header', (env) => env.meta.putSync(Buffer.from('header'), sealed(Buffer.from('header'), '{"viewNumber":1}').subarray(0, 10)), /^meta\/header: checksum mismatch/],
    ['a header missing under a log', (env) => env.meta.removeSync(Buffer.from('header')), /^meta\/header: missing, although the store holds a log/],
    ['a damaged format record', (env) => env.meta.putSync(Buffer.from('format'), Buffer.from('garbage')), /^meta\/format: checksum mismatch/],
  ];
  test.each(cases)('%s', async (_, change, problem) => {
    const directory = await threeOps();
    await withRawEnv(directory, (env) => env.root.transactionSync(() => change(env)));
    const before = await withRawEnv(directory, (env) => recordsOf(env));
    const store = openLmdbStore(directory, { nonce: () => 7 });
    expect(store.report.boot).toEqual({ lost: true, nonce: 7 });
    expect(store.report.damage).toMatch(problem);
    expect(store.report.damage).toContain(`were moved to copy 1 of the "damaged" database in ${join(directory, 'data.mdb')}`);
    await store.close();
    const after = await withRawEnv(directory, (env) => ({ kept: recordsOf(env), damaged: recordsOf(env, ['damaged']) }));
    // Every record but a sound format is in copy 1, byte for byte: [copy u32 BE][m|l][key].
    const soundFormat = ([name, key]: [string, string, Buffer]) => name === 'meta' && key === Buffer.from('format').toString('hex') && !/format/.test(problem.source);
    const moved = before.filter((record) => !soundFormat(record)).map(([name, key, value]) => ['damaged', `00000001${Buffer.from(name[0] ?? '').toString('hex')}${key}`, value]);
    expect(after.damaged).toEqual(moved.sort((a, b) => String(a[1]).localeCompare(String(b[1]))));
    expect(after.kept.map(([name, key]) => `${name}/${Buffer.from(key, 'hex').toString()}`)).toEqual(['meta/format', 'meta/lost']);
  });

  test('a later start before the recovery wrote a header is lost again (moving what the recovery wrote to copy 2); the recovery then completes', async () => {
    const directory = await threeOps();
    await withRawEnv(directory, (env) => env.root.transactionSync(() => env.log.removeSync(opKey(2))));
    const first = openLmdbStore(directory);
    first.apply({ kind: 'log-truncate', opNumber: 0 });
    first.apply(append(1));
    await first.flush(); // Recovery under way: no header yet.
    await first.close();
    const second = openLmdbStore(directory);
    expect(second.report.boot).toMatchObject({ lost: true });
    expect(second.report.damage).toBe(
      `a recovery from an earlier start has not completed (the store was refused: log/3: op 3 where op 2 was expected (a gap)); the store's 1 records were moved to copy 2 of the "damaged" database in ${join(directory, 'data.mdb')}`,
    );
    for (const effect of [append(1), append(2), header(2)]) second.apply(effect);
    await second.flush();
    await second.close();
    const recovered = openLmdbStore(directory);
    expect(recovered.report).toEqual({ boot: { header: { viewNumber: 2, lastNormalView: 2 }, checkpoint: null, log: [entry(1), entry(2)] }, tornTail: false, damage: null });
    await recovered.close();
    const copies = await withRawEnv(directory, (env) => [...env.damaged.getKeys({})].map((key) => key.readUInt32BE(0)));
    expect(new Set(copies)).toEqual(new Set([1, 2]));
  });
});

describe('a format this build does not know: refused, nothing changed', () => {
  const format = Buffer.from('format');
  const cases: Array<[string, Array<['meta' | 'log', Buffer, Buffer | null]>, string]> = [
    ['an unknown format version', [['meta', format, sealed(format, '{"formatVersion":9}')]], 'meta/format: format version 9 is not supported by this build (supported: 1)'],
    ['a format record with an unknown field', [['meta', format, sealed(format, '{"formatVersion":1,"compressed":true}')]], 'meta/format: the checksum is right but the record does not decode (compressed: unknown field (known: formatVersion))'],
    ['a log record whose checksum is right but does not decode', [['log', opKey(3), sealed(opKey(3), JSON.stringify({ ...entry(3), opNumber: '3' }))]], 'log/3: the checksum is right but the record does not decode (opNumber: expected NonNegativeInteger, got "3")'],
    ['a record that is not JSON', [['log', opKey(3), sealed(opKey(3), 'op 3')]], 'log/3: the checksum is right but the record does not decode (not JSON: '],
    [
      'an incompatibility, with damage elsewhere (every replica would be in the same case)',
      [
        ['meta', Buffer.from('header'), Buffer.from('damaged')],
        ['log', opKey(3), sealed(opKey(3), JSON.stringify({ kind: 'log-compress' }))],
      ],
      'log/3: the checksum is right but the record does not decode (',
    ],
  ];
  test.each(cases)('%s', async (_, writes, problem) => {
    const directory = await threeOps();
    await withRawEnv(directory, (env) => env.root.transactionSync(() => writes.forEach(([name, key, value]) => (value === null ? env[name].removeSync(key) : env[name].putSync(key, value)))));
    chmodSync(directory, 0o755); // As an older version might have left it: not even the mode may change.
    const before = treeOf(directory);
    for (const create of [false, true]) {
      let thrown: unknown;
      try {
        openLmdbStore(directory, { create });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(StoreIncompatible);
      expect((thrown as Error).message).toContain(`${directory}: ${problem}`);
      expect((thrown as Error).message).toMatch(/; refusing to start, nothing was changed$/);
      expect(treeOf(directory)).toEqual(before);
    }
  });
});

describe('private modes', () => {
  test('the directory is 0700 and the files 0600 under the usual umask; wider modes left by an older store are narrowed', async () => {
    const previousUmask = process.umask(0o022);
    try {
      const parent = freshDirectory();
      const directory = join(parent, 'replica');
      const store = openLmdbStore(directory, { create: true });
      store.apply(header(0));
      await store.flush();
      await store.close();
      expect([modeOf(directory), modeOf(join(directory, 'data.mdb')), modeOf(join(directory, 'lock.mdb'))]).toEqual([0o700, 0o600, 0o600]);
      chmodSync(directory, 0o755);
      for (const file of ['data.mdb', 'lock.mdb']) chmodSync(join(directory, file), 0o644);
      const reopened = openLmdbStore(directory);
      expect(reopened.report.damage).toBeNull();
      await reopened.close();
      expect([modeOf(directory), modeOf(join(directory, 'data.mdb')), modeOf(join(directory, 'lock.mdb'))]).toEqual([0o700, 0o600, 0o600]);
    } finally {
      process.umask(previousUmask);
    }
  });
});
