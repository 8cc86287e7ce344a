/**
 * The Node store: group commit in effect order, checksums on every record,
 * torn tails dropped, any other damage refused (the replica recovers, its
 * files moved aside, never deleted), a store that cannot make a recovering or
 * lost replica look new, a store of a format this build does not know refused
 * without a change, and private modes on everything it creates.
 */
import { afterEach, describe, expect, onTestFinished, test, vi } from 'vitest';
import fc from 'fast-check';
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Checkpoint, Effect, LogEntry } from '@vsr/core';
import { FileStorage, journalBytes } from '../src/index.js';
import { StoreIncompatible } from '../src/storage.js';

const directories: string[] = [];
function freshDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'vsr-storage-'));
  directories.push(directory);
  return directory;
}
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const entry = (opNumber: number, viewNumber = 0): LogEntry => ({
  opNumber,
  viewNumber,
  timestampMs: opNumber,
  requests: [{ clientId: 'c', requestNumber: opNumber, operation: { type: 'write', key: 'k', value: opNumber } }],
});
const append = (opNumber: number, viewNumber = 0): Effect => ({ kind: 'log-append', entry: entry(opNumber, viewNumber) });
const header = (viewNumber: number, lastNormalView = viewNumber): Effect => ({
  kind: 'persist-header',
  header: { viewNumber, lastNormalView },
});
const checkpointAt = (opNumber: number): Checkpoint => ({
  opNumber,
  viewNumber: 0,
  timestampMs: opNumber,
  snapshot: [['k', opNumber]],
  clientTable: [['c', { requestNumber: opNumber, result: { ok: true }, opNumber }]],
});

/** What a store should hold: the entries after op `base`, the view of its header, its checkpoint's op. */
type Model = { base: number; log: number[]; view: number; checkpoint: number };
type ModelEffect = { kind: 'append' } | { kind: 'truncate'; back: number } | { kind: 'release'; back: number } | { kind: 'header'; view: number };

/** Applies an effect to the store and to the model alike; a release comes with its checkpoint, as from the core. */
function applyTo(storage: FileStorage, model: Model, op: ModelEffect): void {
  const last = model.base + model.log.length;
  if (op.kind === 'append') {
    storage.apply(append(last + 1));
    model.log.push(last + 1);
  } else if (op.kind === 'truncate') {
    const to = Math.max(0, last - op.back);
    storage.apply({ kind: 'log-truncate', opNumber: to });
    if (to < model.base) Object.assign(model, { base: to, log: [] });
    else model.log.length = Math.min(model.log.length, to - model.base);
  } else if (op.kind === 'release') {
    const to = Math.max(0, last - op.back);
    if (to <= model.checkpoint) return;
    storage.apply({ kind: 'persist-checkpoint', checkpoint: checkpointAt(to) });
    storage.apply({ kind: 'log-release', opNumber: to });
    model.checkpoint = to;
    if (to > model.base) {
      model.log = model.log.slice(Math.min(model.log.length, to - model.base));
      model.base = to;
    }
  } else {
    storage.apply(header(op.view));
    model.view = op.view;
  }
}

const modelEffect: fc.Arbitrary<ModelEffect> = fc.oneof(
  fc.constant({ kind: 'append' as const }),
  fc.nat({ max: 8 }).map((back) => ({ kind: 'truncate' as const, back })),
  fc.nat({ max: 8 }).map((back) => ({ kind: 'release' as const, back })),
  fc.nat({ max: 5 }).map((view) => ({ kind: 'header' as const, view })),
);

/** What a reopened store must report for `model`. */
const bootOf = (model: Model) => ({
  header: { viewNumber: model.view, lastNormalView: model.view },
  checkpoint: model.checkpoint === 0 ? null : checkpointAt(model.checkpoint),
  log: model.log.map((opNumber) => entry(opNumber)),
});

/** A closed store holding ops 1..3, and its journal's bytes to damage. */
function journalOfThreeOps(): { directory: string; path: string; bytes: Buffer } {
  const { directory, storage } = created();
  for (const effect of [header(0), append(1), append(2), append(3)]) storage.apply(effect);
  storage.flush();
  storage.close();
  const path = join(directory, 'journal.log');
  return { directory, path, bytes: readFileSync(path) };
}

function created(): { directory: string; storage: FileStorage } {
  const directory = freshDirectory();
  const { storage, report } = FileStorage.open(directory, { create: true });
  expect(report.boot).toBeNull();
  return { directory, storage };
}

describe('the Node store', () => {
  test('what was flushed comes back at the next open, header, checkpoint and log', () => {
    const { directory, storage } = created();
    for (const effect of [header(0), append(1), append(2), append(3), header(1, 0), append(4, 1)]) storage.apply(effect);
    storage.apply({ kind: 'log-truncate', opNumber: 3 });
    storage.apply({ kind: 'persist-checkpoint', checkpoint: checkpointAt(2) });
    storage.apply({ kind: 'log-release', opNumber: 2 });
    storage.flush();
    storage.close();
    const { report } = FileStorage.open(directory);
    expect(report).toMatchObject({ tornTail: false, damage: null });
    expect(report.boot).toEqual({ header: { viewNumber: 1, lastNormalView: 0 }, checkpoint: checkpointAt(2), log: [entry(3)] });
  });

  test('writes not flushed are not durable (a crash before the fsync loses them)', () => {
    const { directory, storage } = created();
    storage.apply(header(0));
    storage.apply(append(1));
    storage.flush();
    storage.apply(append(2));
    storage.close(); // The process dies with op 2 still buffered.
    const { report } = FileStorage.open(directory);
    expect(report.boot).toMatchObject({ log: [entry(1)] });
  });

  test('a record cut short at the end of the journal (a torn write) is dropped; the store is kept', () => {
    const { directory, storage } = created();
    for (const effect of [header(0), append(1), append(2)]) storage.apply(effect);
    storage.flush();
    storage.close();
    appendFileSync(join(directory, 'journal.log'), Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 123, 34]));
    const { storage: reopened, report } = FileStorage.open(directory);
    expect(report).toMatchObject({ tornTail: true, damage: null, boot: { log: [entry(1), entry(2)] } });
    // The torn bytes are gone: new appends follow op 2 and survive another restart.
    reopened.apply(append(3));
    reopened.flush();
    reopened.close();
    expect(FileStorage.open(directory).report.boot).toMatchObject({ log: [entry(1), entry(2), entry(3)] });
  });

  test('a corrupt record is never truncated away: the store is refused and the replica recovers', () => {
    const { directory, path, bytes } = journalOfThreeOps();
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 5) ^ 0xff, bytes.length - 5); // Flip a byte inside the last record's payload.
    writeFileSync(path, bytes);
    const { storage: reopened, report } = FileStorage.open(directory);
    expect(report.boot).toMatchObject({ lost: true });
    expect(report.damage).toMatch(/checksum mismatch/);
    reopened.close();
    // Until it has recovered (written a header), every start reports it lost, never new.
    const again = FileStorage.open(directory);
    expect(again.report.boot).toMatchObject({ lost: true });
    again.storage.apply({ kind: 'log-truncate', opNumber: 0 });
    again.storage.apply(append(1));
    again.storage.apply(header(2));
    again.storage.flush();
    again.storage.close();
    expect(FileStorage.open(directory).report.boot).toMatchObject({ header: { viewNumber: 2 }, log: [entry(1)] });
  });

  test('a damaged length in the middle of the journal is damage, not a torn tail that would drop the records after it', () => {
    const { directory, path, bytes } = journalOfThreeOps();
    const second = 12 + bytes.readUInt32LE(0); // The second record's frame starts after the first.
    bytes.writeUInt32LE(bytes.length * 2, second); // Its length now reaches past the end of the file.
    writeFileSync(path, bytes);
    const { report } = FileStorage.open(directory);
    expect(report.tornTail).toBe(false);
    expect(report.boot).toMatchObject({ lost: true });
    expect(report.damage).toMatch(new RegExp(`frame header at byte ${second}`));
  });

  test('a corrupt header or checkpoint is refused', () => {
    for (const file of ['header.json', 'checkpoint.json']) {
      const { directory, storage } = created();
      storage.apply(header(0));
      storage.apply({ kind: 'persist-checkpoint', checkpoint: checkpointAt(4) });
      storage.flush();
      storage.close();
      const text = readFileSync(join(directory, file), 'utf8');
      writeFileSync(join(directory, file), text.replace(/\d(?=[^\d]*$)/, (digit) => String((Number(digit) + 1) % 10)));
      const { report } = FileStorage.open(directory);
      expect(report.boot).toMatchObject({ lost: true });
      expect(report.damage).toContain(file);
    }
  });

  test('a directory without a store boots as lost unless the replica is being created with its cluster', () => {
    expect(FileStorage.open(freshDirectory()).report.boot).toMatchObject({ lost: true });
    expect(FileStorage.open(freshDirectory(), { create: true }).report.boot).toBeNull();
  });

  test('the journal is compacted once released records pile up', () => {
    const { directory, storage } = created();
    storage.apply(header(0));
    for (let op = 1; op <= 5500; op++) {
      storage.apply(append(op));
      if (op % 1000 === 0) storage.apply({ kind: 'persist-checkpoint', checkpoint: checkpointAt(op) });
      if (op % 2 === 0) storage.apply({ kind: 'log-release', opNumber: op - (op % 1000) });
    }
    storage.flush();
    storage.close();
    // 5,500 appends and 2,750 releases, compacted to the 500 live entries (about 100 bytes each).
    expect(journalBytes(directory)).toBeLessThan(100_000);
    const { boot } = FileStorage.open(directory).report as { boot: { checkpoint: Checkpoint; log: LogEntry[] } };
    expect(boot.checkpoint.opNumber).toBe(5000);
    expect(boot.log.map((e) => e.opNumber)).toEqual(Array.from({ length: 500 }, (_, i) => 5001 + i));
  });

  test('random effects, flushes and crashes: a reopened store holds exactly what was flushed', () => {
    const operation = fc.oneof(modelEffect, fc.constant({ kind: 'flush' as const }), fc.constant({ kind: 'crash' as const }));
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), (operations) => {
        const fresh = created();
        const directory = fresh.directory;
        let storage = fresh.storage;
        storage.apply(header(0));
        storage.flush();
        // The model: what is durable, and what is buffered.
        let durable: Model = { base: 0, log: [], view: 0, checkpoint: 0 };
        let buffered = structuredClone(durable);
        for (const op of operations) {
          if (op.kind === 'flush') {
            storage.flush();
            durable = structuredClone(buffered);
          } else if (op.kind === 'crash') {
            storage.close();
            ({ storage } = FileStorage.open(directory));
            buffered = structuredClone(durable);
          } else {
            applyTo(storage, buffered, op);
          }
        }
        storage.close();
        const { report } = FileStorage.open(directory);
        expect(report.damage).toBeNull();
        expect(report.boot).toEqual(bootOf(durable));
        rmSync(directory, { recursive: true, force: true });
      }),
      { numRuns: 60 },
    );
  });

  test('flushAsync: effects applied while it writes wait for the next flush', async () => {
    const { directory, storage } = created();
    storage.apply(header(0));
    storage.apply(append(1));
    const writing = storage.flushAsync();
    expect(storage.flushing).toBe(true);
    storage.apply(append(2)); // During the flush: not part of it.
    expect(() => storage.flush()).toThrow(/while flushAsync\(\) is writing/);
    await writing;
    expect(storage.dirty).toBe(true);
    expect(storage.snapshot().log).toEqual([entry(1)]);
    await storage.flushAsync();
    storage.close();
    expect(FileStorage.open(directory).report.boot).toMatchObject({ log: [entry(1), entry(2)] });
  });

  test('random effects, asynchronous flushes, effects during flushes and crashes in the middle of one: the store reopens to a state the writes allow', async () => {
    const effect = modelEffect;
    const operation = fc.oneof(
      { weight: 4, arbitrary: effect },
      { weight: 2, arbitrary: fc.array(effect, { maxLength: 4 }).map((during) => ({ kind: 'flush' as const, during })) },
      { weight: 1, arbitrary: fc.constant({ kind: 'crash-while-flushing' as const }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { maxLength: 40 }), async (operations) => {
        const { directory, storage } = created();
        storage.apply(header(0));
        storage.flush();
        let durable: Model = { base: 0, log: [], view: 0, checkpoint: 0 };
        const buffered: Model = structuredClone(durable);
        const reopen = () => {
          const opened = FileStorage.open(directory);
          expect(opened.report.damage).toBeNull();
          return opened;
        };
        // The states a crash in the middle of the next flush may leave: the writes land in order,
        // journal records in batches cut by each header and each release (which waits for its
        // checkpoint), so any prefix ending at such a cut.
        let cuts: Model[] = [];
        const apply = (op: ModelEffect) => {
          const cut = op.kind === 'header' || op.kind === 'release';
          if (cut) cuts.push(structuredClone(buffered));
          applyTo(storage, buffered, op);
          if (cut) cuts.push(structuredClone(buffered));
        };
        for (const op of operations) {
          if (op.kind === 'flush') {
            const flushed = structuredClone(buffered);
            const writing = storage.flushAsync();
            cuts = [];
            for (const during of op.during) apply(during);
            await writing;
            await storage.settle(); // Checkpoints are written in the background.
            durable = flushed;
          } else if (op.kind === 'crash-while-flushing') {
            const possible = [structuredClone(durable), ...cuts, structuredClone(buffered)];
            const writing = storage.flushAsync();
            storage.close(); // The write under way may land; nothing after it does.
            await writing;
            await storage.settle();
            const { report } = reopen();
            const boot = report.boot as { header: { viewNumber: number }; checkpoint: Checkpoint | null; log: LogEntry[] };
            const log = boot.log.map((e) => e.opNumber);
            // The journal and the header land as some prefix of the flush's writes.
            const found = possible.find((model) => model.view === boot.header.viewNumber && JSON.stringify(model.log) === JSON.stringify(log));
            expect(found, `reopened to view ${boot.header.viewNumber}, log ${JSON.stringify(log)}`).toBeDefined();
            // The checkpoint (written in the background) is the old one or one this flush wrote,
            // and never behind the journal: no entry it does not cover was released.
            const checkpointOp = boot.checkpoint?.opNumber ?? 0;
            expect(possible.map((model) => model.checkpoint)).toContain(checkpointOp);
            if (boot.checkpoint !== null) expect(boot.checkpoint).toEqual(checkpointAt(checkpointOp));
            const after = log.filter((opNumber) => opNumber > checkpointOp);
            expect(after).toEqual(after.map((_, i) => checkpointOp + 1 + i));
            expect(found!.base).toBeLessThanOrEqual(checkpointOp);
            return; // What the store holds is checked; the model of what follows would have to guess its base.
          } else {
            apply(op);
          }
        }
        storage.close();
        const { report } = reopen();
        expect(report.boot).toEqual(bootOf(durable));
        rmSync(directory, { recursive: true, force: true });
      }),
      { numRuns: 40 },
    );
  });

  test('a corrupt record moves the store aside byte for byte, never deleting it, and the replica boots as lost', () => {
    const { directory, path, bytes } = journalOfThreeOps();
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 5) ^ 0xff, bytes.length - 5);
    writeFileSync(path, bytes);
    const headerBytes = readFileSync(join(directory, 'header.json'));
    const { storage, report } = FileStorage.open(directory);
    storage.close();
    expect(report.boot).toMatchObject({ lost: true });
    const [folder, ...others] = damagedFolders(directory);
    expect(others).toEqual([]);
    expect(folder).toMatch(/^damaged-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z$/);
    expect(report.damage).toContain(`checksum mismatch in the record at byte`);
    expect(report.damage).toContain(`moved to ${join(directory, folder!)}`);
    expect(readFileSync(join(directory, folder!, 'journal.log')).equals(bytes)).toBe(true);
    expect(readFileSync(join(directory, folder!, 'header.json')).equals(headerBytes)).toBe(true);
    expect(modeOf(join(directory, folder!))).toBe(0o700);
    // The store left in place is empty and marked lost.
    expect(journalBytes(directory)).toBe(0);
    expect(readdirSync(directory).sort()).toEqual([folder, 'format.json', 'journal.log', 'lost.json'].sort());
  });

  test('a later start during recovery moves what the recovery wrote to another folder and leaves the first one alone', () => {
    const { directory, path, bytes } = journalOfThreeOps();
    vi.useFakeTimers({ toFake: ['Date'] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    vi.setSystemTime(new Date('2030-01-02T03:04:05.678Z')); // Both starts in the same millisecond: the names must not collide.
    writeFileSync(path, bytes.subarray(0, bytes.length - 1).toString('latin1') + 'X', 'latin1');
    const first = FileStorage.open(directory);
    const [firstFolder] = damagedFolders(directory);
    const firstTree = treeOf(join(directory, firstFolder!));
    first.storage.apply({ kind: 'log-truncate', opNumber: 0 });
    first.storage.apply(append(1));
    first.storage.flush(); // Recovery under way: no header yet.
    first.storage.close();
    const written = readFileSync(path);
    const second = FileStorage.open(directory);
    second.storage.close();
    expect(second.report.boot).toMatchObject({ lost: true });
    expect(second.report.damage).toMatch(/recovery from an earlier start has not completed; the store's files were moved to /);
    const folders = damagedFolders(directory);
    expect(folders.sort()).toEqual(['damaged-2030-01-02T03-04-05.678Z', 'damaged-2030-01-02T03-04-05.678Z-1']);
    expect(treeOf(join(directory, firstFolder!))).toEqual(firstTree);
    const secondFolder = folders.find((folder) => folder !== firstFolder)!;
    expect(readFileSync(join(directory, secondFolder, 'journal.log')).equals(written)).toBe(true);
  });

  test('a record out of order is damage: the replica boots as lost', () => {
    const { directory, path, bytes } = journalOfThreeOps();
    writeFileSync(path, Buffer.concat([bytes, frame(append(5))]));
    const { report } = FileStorage.open(directory);
    expect(report.boot).toMatchObject({ lost: true });
    expect(report.damage).toMatch(/^journal\.log: append of op 5 after op 3 \(record at byte \d+\); the store's files were moved to /);
  });

  test.each([
    ['{"formatVersion":7}', 'format version 7 is not supported by this build (supported: 3)'],
    ['{"formatVersion":', 'not valid JSON ('],
    ['', 'not valid JSON ('],
    ['{"formatVersion":"3"}', 'formatVersion: expected PositiveInteger, got "3"'],
    ['{"version":3}', 'formatVersion: expected PositiveInteger, got undefined'],
    ['{"formatVersion":3,"compressed":true}', 'compressed: unknown field (known: formatVersion)'],
    ['[3]', '(root): expected'],
  ])('format.json %j: the store refuses to start, naming the file and what it found, and changes nothing', (text, problem) => {
    const { directory } = journalOfThreeOps();
    writeFileSync(join(directory, 'format.json'), text);
    chmodSync(directory, 0o755); // As an older version made it: not even the mode may change.
    const before = treeOf(directory);
    for (const create of [false, true]) {
      let thrown: unknown;
      try {
        FileStorage.open(directory, { create });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(StoreIncompatible);
      expect((thrown as Error).message).toContain(`${join(directory, 'format.json')}: ${problem}`);
      expect((thrown as Error).message).toMatch(/; refusing to start, nothing was changed$/);
      expect(treeOf(directory)).toEqual(before);
    }
  });

  test.each([
    ['an unknown kind', { kind: 'log-compress', opNumber: 3 }, /at byte \d+ has a right checksum but does not decode \(kind: expected one of log-append, log-truncate, log-release, got "log-compress"\)/],
    ['a field of another type', { kind: 'log-append', entry: { ...entry(3), opNumber: '3' } }, /does not decode \(entry\.opNumber: expected NonNegativeInteger, got "3"\)/],
    ['not JSON', 'op 3', /does not decode \(not JSON: /],
  ])('a journal record with a right checksum that does not decode (%s) refuses to start and changes nothing', (_, record, problem) => {
    const { directory, path, bytes } = journalOfThreeOps();
    const third = lastRecordOffset(bytes);
    writeFileSync(path, Buffer.concat([bytes.subarray(0, third), frame(record)]));
    const before = treeOf(directory);
    expect(() => FileStorage.open(directory)).toThrow(StoreIncompatible);
    expect(() => FileStorage.open(directory)).toThrow(new RegExp(`^${escape(path)}: the record at byte ${third} `));
    expect(() => FileStorage.open(directory)).toThrow(problem);
    expect(treeOf(directory)).toEqual(before);
  });

  test('a header or checkpoint with a right checksum that does not decode refuses to start and changes nothing', () => {
    for (const [file, body, problem] of [
      ['header.json', '{"viewNumber":"1","lastNormalView":0}', 'viewNumber: expected NonNegativeInteger, got "1"'],
      ['checkpoint.json', '{"opNumber":4}', 'viewNumber: expected NonNegativeInteger, got undefined'],
      ['header.json', 'view 1', 'not JSON: '],
    ] as const) {
      const { directory, storage } = created();
      storage.apply(header(0));
      storage.apply({ kind: 'persist-checkpoint', checkpoint: checkpointAt(4) });
      storage.flush();
      storage.close();
      writeFileSync(join(directory, file), `${JSON.stringify({ crc32: crc32(body) })}\n${body}`);
      const before = treeOf(directory);
      expect(() => FileStorage.open(directory)).toThrow(StoreIncompatible);
      expect(() => FileStorage.open(directory)).toThrow(`${join(directory, file)}: the checksum is right but the contents do not decode (${problem}`);
      expect(treeOf(directory)).toEqual(before);
    }
  });

  test('an incompatibility wins over damage elsewhere (every replica would be in the same case)', () => {
    const { directory, path, bytes } = journalOfThreeOps();
    writeFileSync(join(directory, 'header.json'), 'damaged');
    writeFileSync(path, Buffer.concat([bytes.subarray(0, lastRecordOffset(bytes)), frame({ kind: 'log-compress' })]));
    const before = treeOf(directory);
    expect(() => FileStorage.open(directory)).toThrow(/journal\.log: the record at byte \d+ has a right checksum but does not decode/);
    expect(treeOf(directory)).toEqual(before);
  });

  test('every directory the store makes is 0700 and every file 0600, through both flushes', async () => {
    const previousUmask = process.umask(0o022); // The usual umask, which would leave 0755 and 0644.
    try {
      const parent = freshDirectory();
      const directory = join(parent, 'a', 'replica');
      const { storage } = FileStorage.open(directory, { create: true });
      writeFileSync(join(directory, 'header.json.tmp'), '', { mode: 0o644 }); // Left by an older version.
      storage.apply(header(0));
      storage.apply(append(1));
      storage.apply({ kind: 'persist-checkpoint', checkpoint: checkpointAt(1) });
      storage.flush();
      const expected = { '.': 0o700, 'checkpoint.json': 0o600, 'format.json': 0o600, 'header.json': 0o600, 'journal.log': 0o600 };
      expect(modesIn(directory)).toEqual(expected);
      for (const file of ['header.json.tmp', 'checkpoint.json.tmp']) writeFileSync(join(directory, file), '', { mode: 0o644 });
      storage.apply({ kind: 'persist-checkpoint', checkpoint: checkpointAt(1) });
      storage.apply(header(1));
      await storage.flushAsync();
      await storage.settle();
      storage.close();
      expect(modeOf(join(parent, 'a'))).toBe(0o700);
      expect(modesIn(directory)).toEqual(expected);
      // A damaged store: lost.json and the damaged folder too.
      writeFileSync(join(directory, 'header.json'), 'damaged', { mode: 0o600 });
      FileStorage.open(directory).storage.close();
      const [folder] = damagedFolders(directory);
      expect(modesIn(directory)).toMatchObject({ '.': 0o700, [folder!]: 0o700, 'lost.json': 0o600, 'journal.log': 0o600, [`${folder}/journal.log`]: 0o600 });
    } finally {
      process.umask(previousUmask);
    }
  });

  test("an older version's 0755 directory and 0644 files are narrowed to 0700 and 0600 at open", () => {
    const { directory } = journalOfThreeOps();
    chmodSync(directory, 0o755);
    for (const file of ['journal.log', 'header.json', 'format.json']) chmodSync(join(directory, file), 0o644);
    const { storage, report } = FileStorage.open(directory);
    storage.close();
    expect(report.damage).toBeNull();
    expect(modesIn(directory)).toEqual({ '.': 0o700, 'format.json': 0o600, 'header.json': 0o600, 'journal.log': 0o600 });
  });
});

function frame(record: unknown): Buffer {
  const payload = Buffer.from(typeof record === 'string' ? record : JSON.stringify(record), 'utf8');
  const head = Buffer.alloc(12);
  head.writeUInt32LE(payload.length, 0);
  head.writeUInt32LE(crc32(payload), 4);
  head.writeUInt32LE(crc32(head.subarray(0, 8)), 8);
  return Buffer.concat([head, payload]);
}

/** The byte at which the journal's last record starts. */
function lastRecordOffset(bytes: Buffer): number {
  let offset = 0;
  for (;;) {
    const next = offset + 12 + bytes.readUInt32LE(offset);
    if (next >= bytes.length) return offset;
    offset = next;
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

function damagedFolders(directory: string): string[] {
  return readdirSync(directory).filter((name) => name.startsWith('damaged-'));
}

/** Every file and folder under `directory` (itself as '.'), with its mode. */
function modesIn(directory: string): Record<string, number> {
  const modes: Record<string, number> = { '.': modeOf(directory) };
  for (const path of readdirSync(directory, { recursive: true, encoding: 'utf8' })) modes[path] = modeOf(join(directory, path));
  return modes;
}

/** Every file and folder under `directory` with its mode and, for a file, its bytes: to show nothing changed. */
function treeOf(directory: string): Record<string, { mode: number; bytes: string | null }> {
  const tree: Record<string, { mode: number; bytes: string | null }> = {};
  for (const [path, mode] of Object.entries(modesIn(directory))) {
    const full = join(directory, path);
    tree[relative(directory, full) || '.'] = { mode, bytes: statSync(full).isDirectory() ? null : readFileSync(full).toString('base64') };
  }
  return tree;
}
