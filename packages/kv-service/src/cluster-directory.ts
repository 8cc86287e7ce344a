/**
 * A local cluster's directory (`vsr-kv cluster --dir DIR`), mode 0700:
 *
 * - `cluster.json`: `{"replicaCount":N,"port":P}`, written when the cluster is
 *   formed and checked at every later start (membership changes are not
 *   supported, so a start with other numbers is refused);
 * - `secret`: the cluster secret the replicas authenticate each other with;
 * - `token`: the bearer token of the HTTP API and the client port (made at the
 *   first start, or at the first start of a directory an older version made
 *   without one);
 * - `tls/`: the cluster's CA (`ca.pem`, `ca-key.pem`) and each replica's
 *   certificate and key (`replica-<i>.pem`, `replica-<i>-key.pem`), made at
 *   the first start that asks for TLS;
 * - `replica-<i>/`: replica i's data.
 *
 * Files are 0600. A cluster.json that is not JSON, does not decode, or has a
 * field this build does not know is refused with an error naming the file
 * and the field: nothing is guessed.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { decodeWith, PositiveInteger } from '@vsr/core';
import { createClusterCertificates, type TlsCredentials } from '@vsr/node';

const DIRECTORY_MODE = 0o700;
const FILE_MODE = 0o600;
/** The secret and the token: this many random bytes, in hex. */
const KEY_BYTES = 24;
const PORT_MAX = 65_535;

const isPort = (u: unknown): u is number => Number.isSafeInteger(u) && (u as number) >= 1 && (u as number) <= PORT_MAX;

/** Named for the reader: errors say `expected a positive integer`. */
const ReplicaCount = new t.Type<number, number, unknown>('a positive integer', PositiveInteger.is, (u, c) => (PositiveInteger.is(u) ? t.success(u) : t.failure(u, c)), t.identity);
const Port = new t.Type<number, number, unknown>(`an integer from 1 to ${PORT_MAX}`, isPort, (u, c) => (isPort(u) ? t.success(u) : t.failure(u, c)), t.identity);

/** cluster.json: exact (a field it does not name is refused by `readClusterFile`). */
const ClusterFile = t.exact(t.type({ replicaCount: ReplicaCount, port: Port }), 'an object');
type ClusterFile = t.TypeOf<typeof ClusterFile>;

export interface ClusterDirectoryOptions {
  readonly directory: string;
  readonly replicaCount: number;
  readonly port: number;
}

export interface ClusterDirectory {
  /** True when this start formed the cluster: every replica is started with `--init`. */
  readonly init: boolean;
  /** The cluster secret's file (`--secret-file`). */
  readonly secretFile: string;
  /** The HTTP API bearer token's file. */
  readonly tokenFile: string;
  /** The folder of the cluster's certificates (see `ensureClusterCertificates`). */
  readonly tlsDirectory: string;
}

/**
 * Forms the cluster in `options.directory` at its first start (cluster.json,
 * secret, token), or checks that a later start matches it. Throws, naming the
 * file, if cluster.json cannot be read or does not match.
 */
export function prepareClusterDirectory(options: ClusterDirectoryOptions): ClusterDirectory {
  const directory = resolve(options.directory);
  const clusterFile = join(directory, 'cluster.json');
  const secretFile = join(directory, 'secret');
  const tokenFile = join(directory, 'token');
  if (existsSync(clusterFile)) {
    const recorded = readClusterFile(clusterFile);
    if (recorded.replicaCount !== options.replicaCount || recorded.port !== options.port) {
      throw new Error(
        `${directory} holds a cluster of ${recorded.replicaCount} replicas on port ${recorded.port}; ` +
          `start it with --replicas ${recorded.replicaCount} --port ${recorded.port}, or use another --dir (membership changes are not supported)`,
      );
    }
    if (!existsSync(secretFile)) throw new Error(`${secretFile} is missing: the replicas cannot authenticate each other without it`);
    narrowMode(directory);
    if (!existsSync(tokenFile)) writeKey(tokenFile); // A directory made by a version without an HTTP token.
    return { init: false, secretFile, tokenFile, tlsDirectory: join(directory, 'tls') };
  }
  const replicaDirs = Array.from({ length: options.replicaCount }, (_, i) => join(directory, `replica-${i}`));
  const existing = replicaDirs.filter((dir) => existsSync(dir));
  if (existing.length > 0) throw new Error(`${directory} has replica data (${existing.join(', ')}) but no cluster.json: refusing to form a new cluster over it`);
  mkdirSync(directory, { recursive: true, mode: DIRECTORY_MODE });
  narrowMode(directory);
  writeKey(secretFile);
  writeKey(tokenFile);
  // cluster.json last, and whole (written aside, then renamed): its presence says the cluster was formed.
  const recorded: ClusterFile = { replicaCount: options.replicaCount, port: options.port };
  writeFileSync(`${clusterFile}.tmp`, `${JSON.stringify(recorded)}\n`, { mode: FILE_MODE });
  renameSync(`${clusterFile}.tmp`, clusterFile);
  return { init: true, secretFile, tokenFile, tlsDirectory: join(directory, 'tls') };
}

/**
 * Makes the cluster's CA and replica certificates in `tlsDirectory` unless
 * they are there (certificates name 127.0.0.1 and localhost: the cluster
 * command serves loopback only).
 */
export function ensureClusterCertificates(tlsDirectory: string, replicaCount: number): void {
  const expected = ['ca.pem', ...Array.from({ length: replicaCount }, (_, i) => `replica-${i}.pem`)];
  if (expected.every((file) => existsSync(join(tlsDirectory, file)))) return;
  const certificates = createClusterCertificates({ replicaCount });
  mkdirSync(tlsDirectory, { recursive: true, mode: DIRECTORY_MODE });
  narrowMode(tlsDirectory);
  const write = (file: string, text: string) => {
    writeFileSync(join(tlsDirectory, file), text, { mode: FILE_MODE });
    chmodSync(join(tlsDirectory, file), FILE_MODE);
  };
  write('ca-key.pem', certificates.ca.key);
  certificates.replicas.forEach((issued, replicaId) => {
    write(`replica-${replicaId}.pem`, issued.cert);
    write(`replica-${replicaId}-key.pem`, issued.key);
  });
  write('ca.pem', certificates.ca.cert); // Last: its presence with the others says the set is whole.
}

/** Reads replica `replicaId`'s TLS credentials from a folder laid out as `ensureClusterCertificates` makes it. */
export function readTlsDirectory(tlsDirectory: string, replicaId: number): TlsCredentials {
  const read = (file: string) => {
    const path = join(tlsDirectory, file);
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(`${path}: cannot read it (${error instanceof Error ? error.message : String(error)}); --tls-dir needs ca.pem, replica-${replicaId}.pem and replica-${replicaId}-key.pem`);
    }
  };
  return { ca: read('ca.pem'), cert: read(`replica-${replicaId}.pem`), key: read(`replica-${replicaId}-key.pem`) };
}

/** Reads and decodes cluster.json exactly; every error names the file and the field. */
function readClusterFile(path: string): ClusterFile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(error instanceof SyntaxError ? `${path}: not valid JSON (${message})` : `${path}: could not be read (${message})`);
  }
  const decoded = decodeWith(ClusterFile, json);
  if (isLeft(decoded)) throw new Error(`${path}: ${decoded.left}`);
  const known = Object.keys(ClusterFile.type.props);
  const unknown = Object.keys(json as object).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new Error(`${path}: ${unknown.map((key) => `${key}: unknown field (known: ${known.join(', ')})`).join('; ')}`);
  return decoded.right;
}

/** A new secret or token: KEY_BYTES random bytes in hex, mode 0600 (also over a file left by a start that did not finish). */
function writeKey(path: string): void {
  writeFileSync(path, `${randomBytes(KEY_BYTES).toString('hex')}\n`, { mode: FILE_MODE });
  chmodSync(path, FILE_MODE); // `mode` applies only to a file this call creates.
}

/** The directory to 0700 (a directory made by an older version may be 0755). */
function narrowMode(directory: string): void {
  if ((statSync(directory).mode & 0o777) !== DIRECTORY_MODE) chmodSync(directory, DIRECTORY_MODE);
}
