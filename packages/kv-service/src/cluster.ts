/**
 * `vsr-kv cluster`: N replicas on 127.0.0.1, each a child process running
 * `vsr-kv serve` (replica i: peers on port P+i, HTTP on P+100+i), with
 * their data under DIR. The first start of a directory forms a new cluster
 * (every replica `--init`) and writes the cluster secret to DIR/secret;
 * later starts reuse it, and a replica whose data is missing then recovers
 * from its peers instead of rejoining as new.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface ClusterOptions {
  readonly replicaCount: number;
  readonly directory: string;
  readonly port: number;
  readonly host?: string;
  /** Extra arguments for every `serve` (for example `--config`). */
  readonly serveArgs?: readonly string[];
  readonly out?: (line: string) => void;
}


/** The `vsr-kv` entry point. */
export const CLI_PATH = fileURLToPath(new URL('./vsr-kv.ts', import.meta.url));

/** The node arguments that run a TypeScript entry point (this workspace runs its sources through tsx). */
export function nodeArgs(entry: string): string[] {
  return ['--import', import.meta.resolve('tsx'), entry];
}

interface ClusterFile {
  readonly replicaCount: number;
  readonly port: number;
}

export function prepareClusterDirectory(options: ClusterOptions): { init: boolean; secretFile: string } {
  const directory = resolve(options.directory);
  const clusterFile = join(directory, 'cluster.json');
  const secretFile = join(directory, 'secret');
  if (existsSync(clusterFile)) {
    const recorded = JSON.parse(readFileSync(clusterFile, 'utf8')) as ClusterFile;
    if (recorded.replicaCount !== options.replicaCount || recorded.port !== options.port) {
      throw new Error(
        `${directory} holds a cluster of ${recorded.replicaCount} replicas on port ${recorded.port}; ` +
          `start it with --replicas ${recorded.replicaCount} --port ${recorded.port}, or use another --dir (membership changes are not supported)`,
      );
    }
    if (!existsSync(secretFile)) throw new Error(`${secretFile} is missing: the replicas cannot authenticate each other without it`);
    return { init: false, secretFile };
  }
  mkdirSync(directory, { recursive: true });
  const replicaDirs = Array.from({ length: options.replicaCount }, (_, i) => join(directory, `replica-${i}`));
  const existing = replicaDirs.filter((dir) => existsSync(dir));
  if (existing.length > 0) throw new Error(`${directory} has replica data (${existing.join(', ')}) but no cluster.json: refusing to form a new cluster over it`);
  writeFileSync(secretFile, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  writeFileSync(clusterFile, `${JSON.stringify({ replicaCount: options.replicaCount, port: options.port } satisfies ClusterFile)}\n`);
  return { init: true, secretFile };
}

export interface ReplicaProcess {
  readonly replicaId: number;
  readonly child: ChildProcess;
  readonly http: string;
  readonly peer: string;
  /** The `serve` arguments (without `--init`). */
  readonly args: readonly string[];
  /** The command line that starts this replica again by hand. */
  readonly command: string;
}

/** Starts the replicas and resolves once every one is listening. */
export async function startCluster(options: ClusterOptions): Promise<ReplicaProcess[]> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const host = options.host ?? '127.0.0.1';
  const directory = resolve(options.directory);
  const { init, secretFile } = prepareClusterDirectory(options);
  const peers = Array.from({ length: options.replicaCount }, (_, i) => `${host}:${options.port + i}`).join(',');
  const started = Array.from({ length: options.replicaCount }, (_, replicaId) =>
    spawnReplica(
      replicaId,
      [
        'serve',
        '--id', String(replicaId),
        '--peers', peers,
        '--http', `${host}:${options.port + 100 + replicaId}`,
        '--dir', join(directory, `replica-${replicaId}`),
        '--secret-file', secretFile,
        ...(options.serveArgs ?? []),
      ],
      init,
      out,
    ),
  );
  const replicas = started.map(({ replica }) => replica);
  try {
    await Promise.all(started.map(({ ready }) => ready));
  } catch (error) {
    await stopCluster(replicas);
    throw error;
  }
  return replicas;
}

/** Starts a replica of a cluster again (after it exited or was killed) with the same arguments; resolves once it listens. */
export async function restartReplica(replica: ReplicaProcess, out?: (line: string) => void): Promise<ReplicaProcess> {
  const started = spawnReplica(replica.replicaId, replica.args, false, out ?? ((line: string) => process.stdout.write(`${line}\n`)));
  await started.ready;
  return started.replica;
}

function spawnReplica(replicaId: number, args: readonly string[], init: boolean, out: (line: string) => void): { replica: ReplicaProcess; ready: Promise<void> } {
  // VSR_NODE_ARGS: extra Node flags for the replica processes (e.g. --max-old-space-size=4096, --cpu-prof).
  const extra = (process.env['VSR_NODE_ARGS'] ?? '').split(/\s+/).filter((flag) => flag !== '');
  const child = spawn(process.execPath, [...extra, ...nodeArgs(CLI_PATH), ...args, ...(init ? ['--init'] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const flag = (name: string) => args[args.indexOf(name) + 1] ?? '';
  const replica: ReplicaProcess = { replicaId, child, http: flag('--http'), peer: flag('--peers').split(',')[replicaId] ?? '', args, command: `npm run kv -- ${args.join(' ')}` };
  const ready = new Promise<void>((resolveReady, rejectReady) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('{"event":"ready"')) resolveReady();
      else out(`[replica ${replicaId}] ${line}`);
    });
    createInterface({ input: child.stderr! }).on('line', (line) => out(`[replica ${replicaId}] ${line}`));
    child.once('exit', (code, signal) => rejectReady(new Error(`replica ${replicaId} exited before it was ready (${signal ?? `code ${code}`})`)));
  });
  return { replica, ready };
}

/** SIGTERM to every replica (each makes its writes durable and exits), SIGKILL to any still running after `graceMs`. */
export async function stopCluster(replicas: readonly ReplicaProcess[], graceMs = 5_000): Promise<void> {
  await Promise.all(
    replicas.map(
      ({ child }) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          child.once('exit', () => {
            clearTimeout(timer);
            done();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}
