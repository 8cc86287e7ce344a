/** Partitions as sets of blocked directed links, as the harness and the simulator use them. */
import { describe, expect, test } from 'vitest';
import { BlockedLinks } from '../src/index.js';

describe('BlockedLinks', () => {
  test('a blocked link is blocked in its direction only', () => {
    const links = new BlockedLinks();
    expect(links.isBlocked(0, 1)).toBe(false);
    links.block(0, 1);
    expect(links.isBlocked(0, 1)).toBe(true);
    expect(links.isBlocked(1, 0)).toBe(false);
    expect(links.size).toBe(1);
  });

  test('isolating a replica cuts every link to and from it, and no other', () => {
    const links = new BlockedLinks();
    links.isolate(1, 3);
    expect(links.size).toBe(4);
    for (const other of [0, 2]) {
      expect(links.isBlocked(1, other)).toBe(true);
      expect(links.isBlocked(other, 1)).toBe(true);
    }
    expect(links.isBlocked(0, 2)).toBe(false);
    expect(links.isBlocked(2, 0)).toBe(false);
  });

  test('blockAll takes links as given, duplicates once; clear heals everything', () => {
    const links = new BlockedLinks();
    links.blockAll([
      [0, 2],
      [2, 0],
      [0, 2],
    ]);
    expect(links.size).toBe(2);
    expect(links.isBlocked(2, 0)).toBe(true);
    // Replica ids are numbers: 1>12 and 11>2 are different links.
    links.block(1, 12);
    expect(links.isBlocked(11, 2)).toBe(false);
    links.clear();
    expect(links.size).toBe(0);
    expect(links.isBlocked(0, 2)).toBe(false);
  });
});
