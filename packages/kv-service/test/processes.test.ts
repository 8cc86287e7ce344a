/**
 * The vsr-kv processes seen from outside, as a user or an init system sees
 * them: signals to the `cluster` supervisor and to `npm run kv`, the
 * supervisor's death, `cluster --restart`. Every process started here is
 * checked by pid, and killed in afterEach if a test left it running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { CLI_PATH, nodeArgs } from '../src/cluster.js';
import { TEST_CONFIG, freePortBase, http, status, waitFor } from './support.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PROC = existsSync('/proc/self/stat');

/** Every pid a test saw (supervisors, npm, tsx, replicas) and every directory it made: afterEach cleans up what is left. */
const pids = new Set<number>();
const directories: string[] = [];

afterEach(() => {
  for (const pid of pids) if (alive(pid) && ours(pid)) process.kill(pid, 'SIGKILL');
  pids.clear();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** Whether pid is a running process: process.kill(pid, 0), and (with /proc) not a zombie that its new parent has yet to reap. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (!PROC) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Whether pid still runs one of this file's commands (and is not a reused pid); without /proc, assumed. */
function ours(pid: number): boolean {
  if (!PROC) return true;
  try {
    return /vsr-kv|npm/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return false;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface Launched {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every line it wrote, stdout and stderr. */
  readonly lines: string[];
  readonly exited: Promise<Exit>;
  /** Resolves with the first line (already written or to come) matching `pattern`. */
  line(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

function launch(command: string, args: readonly string[]): Launched {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  pids.add(child.pid!);
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      for (const listener of listeners) listener();
    });
  }
  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
      for (const listener of listeners) listener();
    }),
  );
  const line = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        for (const text of lines) {
          const match = pattern.exec(text);
          if (match !== null) return finish(() => resolve(match));
        }
        if (exit !== undefined) finish(() => reject(new Error(`exited (${exit!.signal ?? `code ${exit!.code}`}) before writing ${pattern}:\n${lines.join('\n')}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`timed out waiting for ${pattern}:\n${lines.join('\n')}`))), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        settle();
      };
      listeners.add(check);
      check();
    });
  return { child, pid: child.pid!, lines, exited, line };
}

function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'vsr-kv-processes-'));
  directories.push(directory);
  return directory;
}

interface Replica {
  readonly pid: number;
  readonly http: string;
}

/** A `vsr-kv cluster` supervisor of 3 replicas (the real node process, started like cluster.ts starts its children), once it reports them running. */
async function supervisor(extra: string[] = []): Promise<{ process: Launched; replicas: Replica[] }> {
  const port = await freePortBase(3);
  // Plain HTTP without a token: these tests are about processes and signals (hostile.test.ts covers the defaults).
  const launched = launch(process.execPath, [...nodeArgs(CLI_PATH), 'cluster', '--replicas', '3', '--dir', temporaryDirectory(), '--port', String(port), '--config', TEST_CONFIG, '--no-tls', '--no-token', ...extra]);
  const replicas: Replica[] = [];
  for (let id = 0; id < 3; id++) {
    const match = await launched.line(new RegExp(`^  replica ${id}  http://(\\S+)  \\(peers on \\S+, pid (\\d+)\\)$`));
    replicas.push({ http: match[1]!, pid: Number(match[2]) });
    pids.add(Number(match[2]));
  }
  return { process: launched, replicas };
}

function gone(what: string, pidList: readonly number[], timeoutMs = 10_000): Promise<true> {
  return waitFor(what, () => (pidList.every((pid) => !alive(pid)) ? true : undefined), timeoutMs);
}

/** `package.json`'s `kv` script; SIGINT through npm needs it to `exec tsx` (see the test). */
const KV_SCRIPT = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['kv'] ?? '';

describe('vsr-kv processes', () => {
  test('SIGINT to the cluster supervisor stops every replica, and the supervisor exits 0 (without --restart, a dead replica is reported, not restarted)', async () => {
    const { process: cluster, replicas } = await supervisor();
    expect(replicas.every(({ pid }) => alive(pid))).toBe(true);
    process.kill(replicas[2]!.pid, 'SIGKILL');
    await cluster.line(/^replica 2 exited \(SIGKILL\) after .*; not restarting it \(start the cluster with --restart to do so\); to start it again by hand: npm run kv -- serve --id 2 /);
    cluster.child.kill('SIGINT');
    expect(await cluster.exited).toEqual({ code: 0, signal: null });
    // The supervisor waits for its replicas: they are gone the moment it exits.
    expect(replicas.filter(({ pid }) => alive(pid))).toEqual([]);
    // Stopped by the supervisor's SIGTERM (each makes its writes durable), and the killed one left down.
    const stopping = cluster.lines.filter((line) => line.includes('stopping'));
    for (const id of [0, 1]) expect(stopping.some((line) => line.startsWith(`[replica ${id}] {`) && line.includes(`"msg":"replica ${id}: SIGTERM, stopping"`)), stopping.join('\n')).toBe(true);
    expect(cluster.lines.filter((line) => /restart(ing|ed)\b/.test(line) && !/--restart/.test(line))).toEqual([]);
  });

  test('SIGKILL of the supervisor: every replica exits within seconds', async () => {
    const { process: cluster, replicas } = await supervisor();
    cluster.child.kill('SIGKILL');
    await cluster.exited;
    await gone('the replicas of a killed supervisor to exit', replicas.map(({ pid }) => pid));
  });

  test('cluster --restart: a replica killed with SIGKILL comes back with a new pid, and the cluster serves a write', async () => {
    const { process: cluster, replicas } = await supervisor(['--restart']);
    const victim = replicas[1]!;
    process.kill(victim.pid, 'SIGKILL');
    await cluster.line(/^replica 1 exited \(SIGKILL\) after .*; restarting it in 100 ms \(restart 1\)$/);
    const restarted = await waitFor(
      'replica 1 to serve /status from a new process',
      async () => {
        const s = await status(`http://${victim.http}`);
        return s.replicaId === 1 && s.pid !== victim.pid ? s : undefined;
      },
      20_000,
    );
    pids.add(restarted.pid);
    expect(alive(victim.pid)).toBe(false);
    expect(alive(restarted.pid)).toBe(true);
    await cluster.line(new RegExp(`^replica 1 restarted \\(pid ${restarted.pid}\\)`));
    await waitFor('a write through the restarted replica', async () => ((await http('PUT', `http://${victim.http}/kv/after-restart`, 'yes')).status === 200 ? true : undefined), 20_000);
    expect(await http('GET', `http://${replicas[0]!.http}/kv/after-restart`)).toEqual({ status: 200, body: { key: 'after-restart', value: 'yes' } });
    cluster.child.kill('SIGINT');
    expect(await cluster.exited).toEqual({ code: 0, signal: null });
    expect([replicas[0]!.pid, restarted.pid, replicas[2]!.pid].filter(alive)).toEqual([]);
  });

  test('SIGTERM to `npm run kv -- serve` leaves no replica process running', async () => {
    const port = await freePortBase(1);
    const npm = launch('npm', ['run', 'kv', '--', 'serve', '--id', '0', '--peers', `127.0.0.1:${port}`, '--http', `127.0.0.1:${port + 100}`, '--dir', join(temporaryDirectory(), 'replica-0'), '--secret', 'test', '--init']);
    const replica = Number((await npm.line(/^\{"event":"ready".*"pid":(\d+)\}$/, 40_000))[1]);
    pids.add(replica);
    // Between npm and the replica: `sh -c` (unless the script execs) and the tsx CLI, which runs the replica as its child.
    const wrappers: number[] = [];
    for (let pid = parentOf(replica); PROC && pid !== undefined && pid !== npm.pid && wrappers.length < 4; pid = parentOf(pid)) wrappers.push(pid);
    wrappers.forEach((pid) => pids.add(pid));
    expect((await http('GET', `http://127.0.0.1:${port + 100}/status`)).status).toBe(200);
    npm.child.kill('SIGTERM');
    await npm.exited;
    await gone('the replica started by npm to exit', [replica, ...wrappers]);
  });

  test.skipIf(!/(^|&&|;)\s*exec\s+tsx\b/.test(KV_SCRIPT))('SIGINT to `npm run kv -- cluster` stops every replica, and npm exits 0 (needs `exec tsx` in the kv script)', async () => {
    // npm forwards SIGINT to the shell that runs the script, and dash holds SIGINT until its child exits:
    // only a script that execs tsx lets npm's SIGINT reach tsx, which relays it to the supervisor.
    const port = await freePortBase(3);
    const npm = launch('npm', ['run', 'kv', '--', 'cluster', '--replicas', '3', '--dir', temporaryDirectory(), '--port', String(port), '--config', TEST_CONFIG]);
    const replicas: number[] = [];
    for (let id = 0; id < 3; id++) replicas.push(Number((await npm.line(new RegExp(`^  replica ${id}  https://\\S+  \\(peers on \\S+, pid (\\d+)\\)$`), 40_000))[1]));
    replicas.forEach((pid) => pids.add(pid));
    npm.child.kill('SIGINT');
    expect(await npm.exited).toEqual({ code: 0, signal: null });
    await gone('the replicas of `npm run kv -- cluster` to exit', replicas, 5_000);
  });
});
