/**
 * The in-memory disk the harness and the simulator share: writes become
 * durable in order, a crash loses what was not synced (or keeps a prefix),
 * a log release waits for a durable checkpoint covering it, and a boot reads
 * back exactly what is durable.
 */
import { describe, expect, test } from 'vitest';
import type { Checkpoint, LogEntry } from '@vsr/core';
import { MemoryDisk, SafetyViolation, type StorageEffect } from '../src/index.js';

const entry = (opNumber: number): LogEntry => ({ opNumber, viewNumber: 0, timestampMs: opNumber, requests: [] });
const append = (opNumber: number): StorageEffect => ({ kind: 'log-append', entry: entry(opNumber) });
const header = (viewNumber: number): StorageEffect => ({ kind: 'persist-header', header: { viewNumber, lastNormalView: viewNumber } });
const checkpoint = (opNumber: number): Checkpoint => ({ opNumber, viewNumber: 0, timestampMs: opNumber, snapshot: [], clientTable: [] });
const noNonce = () => {
  throw new Error('a nonce drawn for a disk that is not lost');
};

describe('MemoryDisk', () => {
  test('writes stay in the cache until a sync makes a prefix of them durable, in order', () => {
    const disk = new MemoryDisk("replica 0's disk");
    disk.write(header(1));
    disk.write(append(1));
    disk.write(append(2));
    expect(disk.cached).toBe(3);
    expect(disk.bootStorage(noNonce)).toBeNull();
    disk.sync(2);
    expect(disk.cached).toBe(1);
    expect(disk.bootStorage(noNonce)).toEqual({ header: { viewNumber: 1, lastNormalView: 1 }, checkpoint: null, log: [entry(1)] });
    disk.sync(1);
    expect(disk.log).toEqual([entry(1), entry(2)]);
    expect(() => disk.sync(1)).toThrow(/sync of 1 writes with 0 cached/);
  });

  test('a crash keeps the prefix of the cache the disk had written and loses the rest, and says whether it cut a write off', () => {
    const disk = new MemoryDisk("replica 0's disk");
    disk.persist(header(1));
    for (const opNumber of [1, 2, 3]) disk.write(append(opNumber));
    expect(disk.crashCache(1)).toBe(true);
    expect(disk.cached).toBe(0);
    expect(disk.log).toEqual([entry(1)]);
    disk.write(append(2));
    expect(disk.crashCache(1)).toBe(false);
    expect(disk.log).toEqual([entry(1), entry(2)]);
  });

  test('a log release waits for a durable checkpoint covering it, and so does every write after it', () => {
    const disk = new MemoryDisk("replica 0's disk");
    disk.persist(header(0));
    for (const opNumber of [1, 2, 3]) disk.persist(append(opNumber));
    disk.writeCheckpointInBackground(checkpoint(2));
    disk.write(append(4));
    disk.write({ kind: 'log-release', opNumber: 2 });
    disk.write(append(5));
    expect(disk.writable()).toBe(1);
    expect(disk.checkpointsWriting).toBe(1);
    expect(disk.landCheckpoint()).toBe(true);
    expect(disk.landCheckpoint()).toBe(false);
    expect(disk.writable()).toBe(3);
    disk.sync(3);
    expect(disk.bootStorage(noNonce)).toMatchObject({ checkpoint: { opNumber: 2 }, log: [entry(3), entry(4), entry(5)] });
    expect(disk.base).toBe(2);
  });

  test('in a crash, the oldest background checkpoints may have landed: the newest of those is what the disk holds', () => {
    const disk = new MemoryDisk("replica 0's disk");
    for (const opNumber of [4, 8, 12]) disk.writeCheckpointInBackground(checkpoint(opNumber));
    disk.crashCheckpoints(2);
    expect(disk.checkpoint?.opNumber).toBe(8);
    expect(disk.checkpointsWriting).toBe(0);
    disk.writeCheckpointInBackground(checkpoint(16));
    disk.crashCheckpoints(0);
    expect(disk.checkpoint?.opNumber).toBe(8);
  });

  test('a wiped disk boots as lost, with a nonce drawn for it, until a header is durable again', () => {
    const disk = new MemoryDisk("replica 0's disk");
    disk.persist(header(3));
    disk.persist(append(1));
    disk.damaged = 1;
    disk.wipe();
    expect(disk).toMatchObject({ header: null, checkpoint: null, base: 0, log: [], lost: true, damaged: 0, cached: 0 });
    let drawn = 0;
    expect(disk.bootStorage(() => ++drawn)).toEqual({ lost: true, nonce: 1 });
    disk.persist(header(4));
    expect(disk.bootStorage(noNonce)).toEqual({ header: { viewNumber: 4, lastNormalView: 4 }, checkpoint: null, log: [] });
    disk.format();
    expect(disk.lost).toBe(false);
    expect(disk.bootStorage(noNonce)).toBeNull();
  });

  test('the boot reads a copy of the log: what the replica does with it cannot change the disk', () => {
    const disk = new MemoryDisk("replica 0's disk");
    disk.persist(header(0));
    disk.persist(append(1));
    const boot = disk.bootStorage(noNonce) as { log: LogEntry[] };
    boot.log.push(entry(2));
    expect(disk.log).toEqual([entry(1)]);
  });

  test('a log effect that does not follow the log is a safety violation naming the disk', () => {
    const disk = new MemoryDisk("replica 2's disk");
    disk.write(append(2));
    expect(() => disk.sync(1)).toThrow(SafetyViolation);
    expect(() => new MemoryDisk("replica 1's stored log").persist(append(3))).toThrow("replica 1's stored log: append of op 3 after op 0");
  });
});
