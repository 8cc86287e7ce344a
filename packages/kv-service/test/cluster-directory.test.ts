/**
 * A local cluster's directory: formed once with private modes (cluster.json,
 * secret, token), checked exactly at every later start, an older version's
 * directory brought up to date, and any cluster.json this build cannot read
 * refused with the file and the field named, changing nothing.
 */
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareClusterDirectory } from '../src/cluster-directory.js';
import { prepareClusterDirectory as exported } from '../src/index.js';

let parent = '';
let previousUmask = 0;
beforeEach(() => {
  parent = mkdtempSync(join(tmpdir(), 'vsr-cluster-dir-'));
  previousUmask = process.umask(0o022); // The usual umask, which would leave 0755 and 0644.
});
afterEach(() => {
  process.umask(previousUmask);
  rmSync(parent, { recursive: true, force: true });
});

const options = (directory: string) => ({ directory, replicaCount: 3, port: 7000 });
const modeOf = (path: string) => statSync(path).mode & 0o777;

/** The directory's files with their modes and contents: to show a refused start changed nothing. */
function contentsOf(directory: string): Record<string, { mode: number; text: string }> {
  const contents: Record<string, { mode: number; text: string }> = { '.': { mode: modeOf(directory), text: '' } };
  for (const name of readdirSync(directory)) contents[name] = { mode: modeOf(join(directory, name)), text: readFileSync(join(directory, name), 'utf8') };
  return contents;
}

describe('the cluster directory', () => {
  test('the first start forms the cluster: cluster.json, secret and token, the directory 0700 and the files 0600', () => {
    const directory = join(parent, 'new', 'cluster');
    const prepared = prepareClusterDirectory(options(directory));
    expect(prepared).toEqual({ init: true, secretFile: join(directory, 'secret'), tokenFile: join(directory, 'token'), tlsDirectory: join(directory, 'tls') });
    expect(modeOf(join(parent, 'new'))).toBe(0o700);
    expect(modeOf(directory)).toBe(0o700);
    expect(readdirSync(directory).sort()).toEqual(['cluster.json', 'secret', 'token']);
    for (const file of ['cluster.json', 'secret', 'token']) expect(modeOf(join(directory, file)), file).toBe(0o600);
    expect(JSON.parse(readFileSync(join(directory, 'cluster.json'), 'utf8'))).toEqual({ replicaCount: 3, port: 7000 });
    const secret = readFileSync(prepared.secretFile, 'utf8');
    const token = readFileSync(prepared.tokenFile, 'utf8');
    expect(secret).toMatch(/^[0-9a-f]{48}\n$/);
    expect(token).toMatch(/^[0-9a-f]{48}\n$/);
    expect(token).not.toBe(secret);
  });

  test('a later start reuses the secret and the token, and is refused with other numbers', () => {
    const directory = join(parent, 'cluster');
    prepareClusterDirectory(options(directory));
    const before = contentsOf(directory);
    expect(prepareClusterDirectory(options(directory))).toMatchObject({ init: false });
    expect(contentsOf(directory)).toEqual(before);
    expect(() => prepareClusterDirectory({ ...options(directory), replicaCount: 5 })).toThrow(
      `${directory} holds a cluster of 3 replicas on port 7000; start it with --replicas 3 --port 7000`,
    );
  });

  test("an older version's directory (0755, no token) gets a token and is narrowed to 0700, its secret kept", () => {
    const directory = join(parent, 'old');
    mkdirSync(directory, { mode: 0o755 });
    writeFileSync(join(directory, 'cluster.json'), '{"replicaCount":3,"port":7000}\n');
    writeFileSync(join(directory, 'secret'), 'old-secret\n', { mode: 0o600 });
    expect(prepareClusterDirectory(options(directory))).toEqual({ init: false, secretFile: join(directory, 'secret'), tokenFile: join(directory, 'token'), tlsDirectory: join(directory, 'tls') });
    expect(modeOf(directory)).toBe(0o700);
    expect(readFileSync(join(directory, 'secret'), 'utf8')).toBe('old-secret\n');
    expect(modeOf(join(directory, 'token'))).toBe(0o600);
    expect(readFileSync(join(directory, 'token'), 'utf8')).toMatch(/^[0-9a-f]{48}\n$/);
  });

  test('a start that did not finish forming the cluster (a secret, no cluster.json) is formed again with private modes', () => {
    const directory = join(parent, 'half');
    mkdirSync(directory);
    writeFileSync(join(directory, 'secret'), 'half\n', { mode: 0o644 });
    expect(prepareClusterDirectory(options(directory))).toMatchObject({ init: true });
    expect(readFileSync(join(directory, 'secret'), 'utf8')).toMatch(/^[0-9a-f]{48}\n$/);
    expect(modeOf(join(directory, 'secret'))).toBe(0o600);
    expect(modeOf(directory)).toBe(0o700);
  });

  test.each([
    ['{"replicaCount":"3","port":7000}', 'replicaCount: expected a positive integer, got "3"'],
    ['{"replicaCount":0,"port":7000}', 'replicaCount: expected a positive integer, got 0'],
    ['{"replicaCount":3,"port":70000}', 'port: expected an integer from 1 to 65535, got 70000'],
    ['{"replicaCount":3,"port":7000.5}', 'port: expected an integer from 1 to 65535, got 7000.5'],
    ['{"replicaCount":3}', 'port: expected an integer from 1 to 65535, got undefined'],
    ['{"replicaCount":3,"port":7000,"host":"0.0.0.0"}', 'host: unknown field (known: replicaCount, port)'],
    ['[3,7000]', '(root): expected an object, got [3,7000]'],
    ['{"replicaCount":3,', 'not valid JSON ('],
    ['', 'not valid JSON ('],
  ])('cluster.json %j is refused, naming the file and the field, and nothing is changed', (text, problem) => {
    const directory = join(parent, 'cluster');
    mkdirSync(directory, { mode: 0o755 });
    writeFileSync(join(directory, 'cluster.json'), text);
    writeFileSync(join(directory, 'secret'), 'secret\n', { mode: 0o600 });
    const before = contentsOf(directory);
    expect(() => prepareClusterDirectory(options(directory))).toThrow(`${join(directory, 'cluster.json')}: ${problem}`);
    expect(contentsOf(directory)).toEqual(before); // No token was made, no mode changed.
  });

  test('replica data without cluster.json is refused, not formed over', () => {
    const directory = join(parent, 'cluster');
    mkdirSync(join(directory, 'replica-1'), { recursive: true });
    expect(() => prepareClusterDirectory(options(directory))).toThrow(/has replica data .*replica-1.* but no cluster\.json: refusing to form a new cluster over it/);
    expect(readdirSync(directory)).toEqual(['replica-1']);
  });

  test('the package still exports it', () => {
    expect(exported).toBe(prepareClusterDirectory);
  });
});
