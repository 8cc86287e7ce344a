/**
 * The IndexedDB store, against fake-indexeddb: what a flush made durable is
 * what a reopen hands back (a fast-check property with random effects,
 * flushes and crashes, and another with effects during flushes and crashes
 * in the middle of one); one strict transaction per flush; damage boots as
 * lost with the records kept aside, never deleted; a format this build
 * does not know refuses to start and changes nothing.
 */
import { describe, expect, test, vi } from 'vitest';
import fc from 'fast-check';
import { crc32 as zlibCrc32 } from 'node:zlib';
import type { Effect } from '@vsr/core';
import { IndexedDbStorage, StoreIncompatible, crc32, replicaDatabaseName } from '../src/index.js';
import { IDBFactory, databaseNames, dump, tamper, upgradeTo } from './support/idb.js';
import { append, checkpointAt, checkStorageProperties, entry, header } from './support/storage-properties.js';

const NAME = replicaDatabaseName(0, 0);

const sealed = (value: unknown) => {
  const json = JSON.stringify(value);
  return { checksum: zlibCrc32(json), json };
};

function open(factory: IDBFactory, create = false): Promise<IndexedDbStorage> {
  return IndexedDbStorage.open({ cluster: 0, replicaId: 0, create, indexedDB: factory, nonce: () => 7 });
}

async function created(): Promise<{ factory: IDBFactory; storage: IndexedDbStorage }> {
  const factory = new IDBFactory();
  const storage = await open(factory, true);
  expect(storage.report.boot).toBeNull();
  return { factory, storage };
}

/** A closed store holding ops 1..3 in view 0. */
async function threeOps(): Promise<IDBFactory> {
  const { factory, storage } = await created();
  for (const effect of [header(0), append(1), append(2), append(3)]) storage.apply(effect);
  await storage.flush();
  await storage.close();
  return factory;
}

describe('the IndexedDB store', () => {
  test('what was flushed comes back at the next open: header, checkpoint and log', async () => {
    const { factory, storage } = await created();
    for (const effect of [header(0), append(1), append(2), append(3), header(1, 0), append(4, 1)]) storage.apply(effect);
    storage.apply({ kind: 'log-truncate', opNumber: 3 });
    storage.apply({ kind: 'persist-checkpoint', checkpoint: checkpointAt(2) });
    storage.apply({ kind: 'log-release', opNumber: 2 });
    await storage.flush();
    await storage.settle();
    await storage.close();
    const reopened = await open(factory);
    expect(reopened.report).toMatchObject({ damage: null, damagedCopy: null, databaseName: NAME });
    expect(reopened.report.boot).toEqual({ header: { viewNumber: 1, lastNormalView: 0 }, checkpoint: checkpointAt(2), log: [entry(3)] });
    await reopened.close();
  });

  test('writes not flushed are not durable: a crash loses them', async () => {
    const { factory, storage } = await created();
    storage.apply(header(0));
    storage.apply(append(1));
    await storage.flush();
    storage.apply(append(2));
    storage.crash();
    const reopened = await open(factory);
    expect(reopened.report.boot).toMatchObject({ log: [entry(1)] });
    await reopened.close();
  });

  test('a flush is ONE readwrite transaction with strict durability, and resolves only once it has completed', async () => {
    const { storage } = await created();
    const opened: Array<{ scope: string[]; mode: string | undefined; durability: string | undefined; completed: () => boolean }> = [];
    const prototype = Object.getPrototypeOf((storage as unknown as { database: IDBDatabase }).database) as IDBDatabase;
    const original = Object.getOwnPropertyDescriptor(prototype, 'transaction')?.value as (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) => IDBTransaction;
    const spy = vi.spyOn(prototype, 'transaction').mockImplementation(function (this: IDBDatabase, scope, mode, options) {
      const transaction = original.call(this, scope, mode, options);
      let completed = false;
      transaction.addEventListener('complete', () => (completed = true));
      opened.push({ scope: (typeof scope === 'string' ? [scope] : [...scope]).sort(), mode, durability: options?.durability, completed: () => completed });
      return transaction;
    });
    try {
      for (const effect of [header(0), append(1), append(2), append(3), { kind: 'log-truncate', opNumber: 2 } as Effect, header(1)]) storage.apply(effect);
      const flushing = storage.flush();
      expect(storage.flushing).toBe(true);
      await flushing;
      expect(opened).toHaveLength(1);
      expect(opened[0]).toMatchObject({ scope: ['log', 'meta'], mode: 'readwrite', durability: 'strict' });
      expect(opened[0]!.completed()).toBe(true);
    } finally {
      spy.mockRestore();
    }
    await storage.close();
  });

  test('checkpoints are written in the background, and a release waits until a checkpoint covering it is durable', async () => {
    const { storage } = await created();
    const events: string[] = [];
    const prototype = Object.getPrototypeOf((storage as unknown as { database: IDBDatabase }).database) as IDBDatabase;
    const original = Object.getOwnPropertyDescriptor(prototype, 'transaction')?.value as (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) => IDBTransaction;
    const spy = vi.spyOn(prototype, 'transaction').mockImplementation(function (this: IDBDatabase, scope, mode, options) {
      const transaction = original.call(this, scope, mode, options);
      const name = (typeof scope === 'string' ? [scope] : [...scope]).sort().join('+');
      events.push(`open ${name}`);
      transaction.addEventListener('complete', () => events.push(`complete ${name}`));
      return transaction;
    });
    try {
      for (let op = 1; op <= 4; op++) storage.apply(append(op));
      storage.apply(header(0));
      storage.apply({ kind: 'persist-checkpoint', checkpoint: checkpointAt(2) });
      await storage.flush(); // No release: the flush does not wait for the checkpoint.
      await storage.settle();
      expect(events.slice(0, 2)).toEqual(['open checkpoint', 'open log+meta']);
      events.length = 0;
      storage.apply({ kind: 'persist-checkpoint', checkpoint: checkpointAt(4) });
      storage.apply({ kind: 'log-release', opNumber: 4 });
      await storage.flush(); // Releases op 4, which only the checkpoint at 4, still being written, covers.
      expect(events).toEqual(['open checkpoint', 'complete checkpoint', 'open log+meta', 'complete log+meta']);
    } finally {
      spy.mockRestore();
    }
    await storage.close();
  });

  test('effects applied during a flush wait for the next one', async () => {
    const { factory, storage } = await created();
    storage.apply(header(0));
    storage.apply(append(1));
    const writing = storage.flush();
    storage.apply(append(2));
    await expect(storage.flush()).rejects.toThrow(/while another flush is under way/);
    await writing;
    expect(storage.dirty).toBe(true);
    const between = await open(factory);
    expect(between.report.boot).toMatchObject({ log: [entry(1)] });
    await between.close();
    await storage.flush();
    await storage.close();
    const reopened = await open(factory);
    expect(reopened.report.boot).toMatchObject({ log: [entry(1), entry(2)] });
    await reopened.close();
  });

  test('the two storage properties (random effects, flushes and crashes; crashes in the middle of a flush) hold on fake-indexeddb', async () => {
    // The same properties run in Chromium, on its own IndexedDB (chromium/storage.test.ts).
    const outcomes = await checkStorageProperties(() => ({ indexedDB: new IDBFactory(), namePrefix: 'vsr' }), { numRuns: 40 });
    for (const outcome of outcomes) expect(outcome.failed, `${outcome.name}\n${outcome.report ?? ''}`).toBe(false);
    expect(outcomes.map((outcome) => outcome.numRuns)).toEqual([40, 40]);
  });

  test('a missing database boots as lost unless the replica is being created with its cluster; lost stays lost until a header is written', async () => {
    const factory = new IDBFactory();
    const lost = await open(factory);
    expect(lost.report).toMatchObject({ boot: { lost: true, nonce: 7 }, damagedCopy: null });
    expect(lost.report.damage).toMatch(/holds no formatted store/);
    lost.apply({ kind: 'log-truncate', opNumber: 0 });
    lost.apply(append(1));
    await lost.flush(); // Recovery under way, no header yet.
    lost.crash();
    const again = await open(factory);
    expect(again.report.boot).toMatchObject({ lost: true });
    expect(again.report.damage).toMatch(/a recovery from an earlier start has not completed/);
    again.apply(append(1));
    again.apply(header(2));
    await again.flush();
    await again.close();
    const recovered = await open(factory);
    expect(recovered.report).toMatchObject({ damage: null, boot: { header: { viewNumber: 2 }, log: [entry(1)] } });
    await recovered.close();
    expect((await open(new IDBFactory(), true)).report.boot).toBeNull();
  });
});

describe('damage: the store is refused, kept aside, and the replica boots as lost', () => {
  const cases: Array<[string, Array<[string, IDBValidKey, unknown]>, RegExp]> = [
    ['a checksum mismatch in a log record', [['log', 2, { ...sealed(entry(2)), checksum: zlibCrc32('other') }]], /log\/2: checksum mismatch/],
    ['a log record that is not a sealed record', [['log', 2, 'garbage']], /log\/2: not a sealed record/],
    ['a gap in the log', [['log', 2, undefined]], /log\/3: op 3 where op 2 was expected \(a gap\)/],
    ['an entry out of order', [['log', 2, sealed(entry(4))]], /log\/2: holds op 4 \(out of order\)/],
    ['a damaged header', [['meta', 'header', { ...sealed({ viewNumber: 0, lastNormalView: 0 }), json: '{"viewNumber":1,"lastNormalView":0}' }]], /meta\/header: checksum mismatch/],
    ['a header missing under a log', [['meta', 'header', undefined]], /meta\/header: missing, although the store holds a log/],
    ['a damaged checkpoint', [['checkpoint', 'checkpoint', { checksum: 1, json: '{}' }]], /checkpoint\/checkpoint: checksum mismatch/],
  ];
  test.each(cases)('%s', async (_, writes, problem) => {
    const factory = await threeOps();
    await tamper(factory, NAME, writes);
    const before = await dump(factory, NAME);
    const storage = await open(factory);
    expect(storage.report.boot).toEqual({ lost: true, nonce: 7 });
    expect(storage.report.damage).toMatch(problem);
    expect(storage.report.damagedCopy).toBe(`${NAME}-damaged-1`);
    expect(storage.report.damage).toContain(`copied to the database ${NAME}-damaged-1`);
    await storage.close();
    // Kept aside record for record, never deleted; the store itself is empty and marked lost.
    expect((await dump(factory, `${NAME}-damaged-1`)).stores).toEqual(before.stores);
    const after = await dump(factory, NAME);
    expect(after.stores['log']).toEqual([]);
    expect(after.stores['meta']!.map(([key]) => key).sort()).toEqual(['format', 'lost']);
    // The next start (before recovery wrote a header) is lost again, and copies what is there to a new database.
    const again = await open(factory);
    expect(again.report.boot).toMatchObject({ lost: true });
    expect(again.report.damagedCopy).toBe(`${NAME}-damaged-2`);
    await again.close();
    expect((await dump(factory, `${NAME}-damaged-1`)).stores).toEqual(before.stores);
  });
});

describe('a format this build does not know: refused, nothing changed', () => {
  const cases: Array<[string, (factory: IDBFactory) => Promise<void>, RegExp]> = [
    ['an unknown format version', (factory) => tamper(factory, NAME, [['meta', 'format', { formatVersion: 9 }]]), /meta\/format: format version 9 is not supported by this build \(supported: 1\)/],
    ['a format record with an unknown field', (factory) => tamper(factory, NAME, [['meta', 'format', { formatVersion: 1, compressed: true }]]), /compressed: unknown field \(known: formatVersion\)/],
    ['a format record that does not decode', (factory) => tamper(factory, NAME, [['meta', 'format', { formatVersion: '1' }]]), /formatVersion: expected PositiveInteger, got "1"/],
    ['a newer IndexedDB schema version', (factory) => upgradeTo(factory, NAME, 5), /schema version newer than this build's \(1\)/],
    ['a record whose checksum is right but does not decode', (factory) => tamper(factory, NAME, [['log', 3, sealed({ ...entry(3), opNumber: '3' })]]), /log\/3: the checksum is right but the record does not decode \(opNumber: expected NonNegativeInteger, got "3"\)/],
  ];
  test.each(cases)('%s', async (_, change, problem) => {
    const factory = await threeOps();
    await change(factory);
    const before = await dump(factory, NAME);
    const names = await databaseNames(factory);
    for (const create of [false, true]) {
      const failure = await IndexedDbStorage.open({ cluster: 0, replicaId: 0, create, indexedDB: factory }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(StoreIncompatible);
      expect((failure as Error).message).toMatch(problem);
      expect((failure as Error).message).toMatch(/; refusing to start, nothing was changed$/);
    }
    expect(await dump(factory, NAME)).toEqual(before);
    expect(await databaseNames(factory)).toEqual(names);
  });
});

test('crc32 is the CRC-32 zlib computes, over UTF-8', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), (text) => {
      expect(crc32(text)).toBe(zlibCrc32(Buffer.from(text, 'utf8')));
    }),
  );
});
