/**
 * `vsr-kv cluster`: N replicas on 127.0.0.1, each a child process running
 * `vsr-kv serve` (replica i: peers on port P+i, HTTP on P+100+i), with
 * their data under DIR. The first start of a directory forms a new cluster
 * (every replica `--init`) and writes the cluster secret to DIR/secret;
 * later starts reuse it, and a replica whose data is missing then recovers
 * from its peers instead of rejoining as new.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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
  /** Mutual TLS between replicas and TLS for clients and HTTPS (default true); false: the shared secret and plain HTTP. */
  readonly tls?: boolean;
  /** Require the bearer token on HTTP and on the client port (default true). */
  readonly token?: boolean;
}

/** The `vsr-kv` entry point. */
export const CLI_PATH = fileURLToPath(new URL('./vsr-kv.ts', import.meta.url));

/** The node arguments that run a TypeScript entry point (this workspace runs its sources through tsx). */
export function nodeArgs(entry: string): string[] {
  return ['--import', import.meta.resolve('tsx'), entry];
}

// The cluster directory (cluster.json, secret, token) is prepared in its own module.
import { ensureClusterCertificates, prepareClusterDirectory } from './cluster-directory.js';
export { prepareClusterDirectory };

export interface ReplicaProcess {
  readonly replicaId: number;
  readonly child: ChildProcess;
  readonly http: string;
  readonly peer: string;
  /** The `serve` arguments (without `--init` and `--supervised`, which spawnReplica adds). */
  readonly args: readonly string[];
  /** The command line that starts this replica again by hand. */
  readonly command: string;
}

/** Starts the replicas and resolves once every one is listening. */
export async function startCluster(options: ClusterOptions): Promise<ReplicaProcess[]> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const host = options.host ?? '127.0.0.1';
  const directory = resolve(options.directory);
  const { init, secretFile, tokenFile, tlsDirectory } = prepareClusterDirectory(options);
  const tls = options.tls ?? true;
  if (tls) ensureClusterCertificates(tlsDirectory, options.replicaCount);
  const security = [...(tls ? ['--tls-dir', tlsDirectory] : ['--secret-file', secretFile]), ...((options.token ?? true) ? ['--token-file', tokenFile] : [])];
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
        ...security,
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

/**
 * Spawns one `vsr-kv serve --supervised`. Its stdin is a pipe that this
 * process holds and never writes: when this process ends, however it ends
 * (SIGKILL included), the pipe closes and the replica stops as on SIGTERM, so
 * a supervisor never leaves replicas behind. The replica runs in a process
 * group (and session) of its own: a Ctrl-C at the terminal reaches the
 * supervisor only, which stops the replicas in order (and does not see them
 * exit first and restart them).
 */
function spawnReplica(replicaId: number, args: readonly string[], init: boolean, out: (line: string) => void): { replica: ReplicaProcess; ready: Promise<void> } {
  // VSR_NODE_ARGS: extra Node flags for the replica processes (e.g. --max-old-space-size=4096, --cpu-prof).
  const extra = (process.env['VSR_NODE_ARGS'] ?? '').split(/\s+/).filter((flag) => flag !== '');
  const child = spawn(process.execPath, [...extra, ...nodeArgs(CLI_PATH), ...args, ...(init ? ['--init'] : []), '--supervised'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  // Never written; an error on it (the replica gone) is the exit, reported there.
  child.stdin.on('error', () => {});
  const flag = (name: string) => args[args.indexOf(name) + 1] ?? '';
  const replica: ReplicaProcess = { replicaId, child, http: flag('--http'), peer: flag('--peers').split(',')[replicaId] ?? '', args, command: `npm run kv -- ${args.join(' ')}` };
  const ready = new Promise<void>((resolveReady, rejectReady) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('{"event":"ready"')) resolveReady();
      else out(`[replica ${replicaId}] ${line}`);
    });
    createInterface({ input: child.stderr }).on('line', (line) => out(`[replica ${replicaId}] ${line}`));
    child.once('exit', (code, signal) => rejectReady(new Error(`replica ${replicaId} exited before it was ready (${signal ?? `code ${code}`})`)));
  });
  return { replica, ready };
}

/**
 * SIGTERM to every replica (each makes its writes durable and exits), SIGKILL to any still running after `graceMs`.
 * Resolves once every replica has exited and its last output lines have been passed to `out` (its pipes closed,
 * for at most a second after the exit).
 */
export async function stopCluster(replicas: readonly ReplicaProcess[], graceMs = 5_000): Promise<void> {
  await Promise.all(
    replicas.map(
      ({ child }) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          let timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          child.once('exit', () => {
            clearTimeout(timer);
            timer = setTimeout(done, 1_000);
          });
          child.once('close', () => {
            clearTimeout(timer);
            done();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

export interface SuperviseOptions {
  /** Start a replica that exits again (default false: say so, and leave it down). */
  readonly restart?: boolean;
  /** Restart backoff: the first delay, doubling per restart up to `maxMs`; back to `initialMs` for a replica that ran `resetAfterMs` before it exited. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number; readonly resetAfterMs?: number };
  readonly out?: (line: string) => void;
}

export interface ClusterSupervisor {
  /** The replicas now (a restart replaces its replica's entry). */
  readonly replicas: readonly ReplicaProcess[];
  /** Cancels pending restarts and stops every replica (see stopCluster). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Watches the replicas of `startCluster`: each exit is reported with its cause
 * and, with `restart`, the replica is started again (without `--init`: it
 * recovers from its files or its peers) after an exponential backoff.
 */
export function superviseCluster(started: readonly ReplicaProcess[], options: SuperviseOptions = {}): ClusterSupervisor {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const initialMs = options.backoff?.initialMs ?? 100;
  const maxMs = options.backoff?.maxMs ?? 10_000;
  const resetAfterMs = options.backoff?.resetAfterMs ?? 30_000;
  const replicas = [...started];
  const startedAt = replicas.map(() => Date.now());
  const restarts = replicas.map(() => 0);
  /** Restarts in a row (each after less than resetAfterMs of running): the backoff's exponent. */
  const streak = replicas.map(() => 0);
  const timers = new Set<NodeJS.Timeout>();
  let stopping = false;

  const watch = (replica: ReplicaProcess) => {
    const { child } = replica;
    const exited = (code: number | null, signal: NodeJS.Signals | null) => {
      if (stopping) return;
      const id = replica.replicaId;
      const ranMs = Date.now() - startedAt[id]!;
      const cause = `(${signal ?? `code ${code}`}) after ${formatDuration(ranMs)}`;
      if (options.restart !== true) {
        out(`replica ${id} exited ${cause}; not restarting it (start the cluster with --restart to do so); to start it again by hand: ${replica.command}`);
        return;
      }
      if (ranMs >= resetAfterMs) streak[id] = 0;
      const delayMs = Math.min(maxMs, initialMs * 2 ** streak[id]!);
      streak[id]! += 1;
      restarts[id]! += 1;
      out(`replica ${id} exited ${cause}; restarting it in ${delayMs} ms (restart ${restarts[id]})`);
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (stopping) return;
        const { replica: next, ready } = spawnReplica(id, replica.args, false, out);
        replicas[id] = next;
        startedAt[id] = Date.now();
        watch(next);
        // A replica that exits before it is ready is reported (and restarted) by its exit.
        ready.then(
          () => {
            if (!stopping) out(`replica ${id} restarted (pid ${next.child.pid})`);
          },
          () => {},
        );
      }, delayMs);
      timers.add(timer);
    };
    if (child.exitCode !== null || child.signalCode !== null) queueMicrotask(() => exited(child.exitCode, child.signalCode));
    else child.once('exit', exited);
  };
  replicas.forEach(watch);

  return {
    replicas,
    async stop(graceMs?: number) {
      stopping = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await stopCluster(replicas, graceMs);
    },
  };
}

function formatDuration(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms < 3_600_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 3_600_000).toFixed(1)} h`;
}
