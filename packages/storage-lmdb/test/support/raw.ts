/** For the tests: the LMDB environment of a closed store, read and changed directly, behind the store's back. */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';

export type RawDb = Database<Buffer, Buffer>;
export interface RawEnv {
  readonly root: RootDatabase<Buffer, Buffer>;
  readonly meta: RawDb;
  readonly log: RawDb;
  readonly damaged: RawDb;
}

/** Opens the environment in `directory`, runs `body`, closes it. */
export async function withRawEnv<T>(directory: string, body: (env: RawEnv) => T): Promise<T> {
  const root = open<Buffer, Buffer>(directory, { encoding: 'binary', keyEncoding: 'binary', overlappingSync: false, maxDbs: 4 });
  try {
    const db = (name: string) => root.openDB<Buffer, Buffer>(name, { encoding: 'binary', keyEncoding: 'binary' });
    return body({ root, meta: db('meta'), log: db('log'), damaged: db('damaged') });
  } finally {
    await root.close();
  }
}

/** Every record of the named databases, as [database, key hex, value]. */
export function recordsOf(env: RawEnv, names: ReadonlyArray<'meta' | 'log' | 'damaged'> = ['meta', 'log']): Array<[string, string, Buffer]> {
  return names.flatMap((name) => [...env[name].getRange({})].map(({ key, value }): [string, string, Buffer] => [name, key.toString('hex'), Buffer.from(value)]));
}

/** An 8-byte big-endian op number key. */
export function opKey(opNumber: number): Buffer {
  const key = Buffer.alloc(8);
  key.writeBigUInt64BE(BigInt(opNumber));
  return key;
}

const directories: string[] = [];
export function freshDirectory(prefix = 'vsr-lmdb-'): string {
  const directory = mkdtempSync(join(tmpdir(), prefix));
  directories.push(directory);
  return directory;
}
export function removeDirectories(): void {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
}

/** Every file under `directory` with its mode and bytes (lock.mdb's bytes left out: LMDB's reader table, not data). */
export function treeOf(directory: string): Record<string, { mode: number; bytes: string | null }> {
  const tree: Record<string, { mode: number; bytes: string | null }> = { '.': { mode: statSync(directory).mode & 0o777, bytes: null } };
  for (const name of readdirSync(directory)) {
    const path = join(directory, name);
    tree[name] = { mode: statSync(path).mode & 0o777, bytes: name === 'lock.mdb' ? null : readFileSync(path).toString('base64') };
  }
  return tree;
}
