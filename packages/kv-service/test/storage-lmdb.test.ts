/**
 * `vsr-kv serve --storage lmdb`: three real processes on LMDB stores. Writes acknowledged
 * before a kill -9 of the primary survive it and its restart on its own LMDB directory; a
 * directory formed with one kind of store is refused, with the reason, under the other.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { CLI_PATH, nodeArgs } from '../src/cluster.js';
import { http, primaryOf, status, testCluster, waitFor, type TestCluster } from './support.js';

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

describe('vsr-kv on LMDB stores', () => {
  test('a cluster on LMDB serves, loses nothing acknowledged through a kill -9 of its primary, and the restarted replica catches up', async () => {
    cluster = await testCluster({ serveArgs: ['--storage', 'lmdb'] });
    const c = cluster;
    const replicaDirectory = join(c.directory, 'replica-0');
    expect(existsSync(join(replicaDirectory, 'data.mdb'))).toBe(true);
    expect(existsSync(join(replicaDirectory, 'journal.log'))).toBe(false);
    expect(statSync(join(replicaDirectory, 'data.mdb')).mode & 0o777).toBe(0o600);
    for (let i = 0; i < 20; i++) expect((await http('PUT', `${c.url(i % 3)}/kv/k${i}`, `v${i}`)).status).toBe(200);

    const primary = await primaryOf(c);
    await c.kill(primary);
    const survivor = (primary + 1) % 3;
    await waitFor('a new primary', async () => ((await http('PUT', `${c.url(survivor)}/kv/after`, 'kill')).status === 200 ? true : undefined), 15_000);
    await c.restart(primary);
    await waitFor('the restarted replica to catch up', async () => {
      const [restarted, other] = await Promise.all([status(c.url(primary)), status(c.url(survivor))]);
      return restarted.status === 'normal' && restarted.commitNumber >= other.commitNumber ? true : undefined;
    }, 15_000);
    for (let i = 0; i < 20; i++) expect(await http('GET', `${c.url(primary)}/kv/k${i}`)).toEqual({ status: 200, body: { key: `k${i}`, value: `v${i}` } });
    expect((await http('GET', `${c.url(primary)}/kv/after`)).body).toEqual({ key: 'after', value: 'kill' });
    const metrics = await c.client.request('GET', `${c.url(primary)}/metrics`);
    expect(metrics.text).toMatch(/^vsr_storage_bytes\{file="data.mdb"\} [1-9]\d*$/m);
  });

  test('a directory formed with the journal is refused under --storage lmdb, naming the kind it holds, and the other way round', async () => {
    const run = (storage: string, dir: string) =>
      spawnSync(process.execPath, [...nodeArgs(CLI_PATH), 'serve', '--id', '0', '--peers', '127.0.0.1:0', '--http', '127.0.0.1:0', '--dir', dir, '--secret', 's', '--storage', storage], { encoding: 'utf8', timeout: 30_000 });
    // A one-replica cluster of each kind, formed and then killed: their directories stay.
    const single = await testCluster({ replicaCount: 1 });
    const lmdb = await testCluster({ replicaCount: 1, serveArgs: ['--storage', 'lmdb'] });
    try {
      const fileDirectory = join(single.directory, 'replica-0');
      const lmdbDirectory = join(lmdb.directory, 'replica-0');
      await single.kill(0);
      await lmdb.kill(0);
      const wrongOnFile = run('lmdb', fileDirectory);
      expect(wrongOnFile.status).not.toBe(0);
      expect(wrongOnFile.stderr).toMatch(/holds a file store, not lmdb: start it with --storage file/);
      const wrongOnLmdb = run('file', lmdbDirectory);
      expect(wrongOnLmdb.status).not.toBe(0);
      expect(wrongOnLmdb.stderr).toMatch(/holds a lmdb store, not file: start it with --storage lmdb/);
      expect(existsSync(join(fileDirectory, 'data.mdb'))).toBe(false);
      const unknown = run('sqlite', fileDirectory);
      expect(unknown.stderr).toMatch(/--storage: expected file or lmdb, got "sqlite"/);
    } finally {
      await single.stop();
      await lmdb.stop();
    }
  });
});
