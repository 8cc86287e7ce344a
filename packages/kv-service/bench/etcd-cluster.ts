/**
 * A three-member etcd cluster on 127.0.0.1 for `npm run bench:etcd`: etcd
 * installed from Debian if missing, each member in its own data directory
 * under a fresh directory, static bootstrap with --initial-cluster, and the
 * wait until every member's GET /health says it is healthy.
 *
 * Ports, from the base P: member i serves clients on P+i and peers on P+10+i
 * (the Debian package's own service, if it started one, is on 2379/2380).
 * With `tls`, client and peer URLs are https:// with certificates from the
 * project's PKI helper (`createClusterCertificates`: a CA made for the run,
 * one certificate per member naming 127.0.0.1), and members require each
 * other's certificates (--peer-client-cert-auth); clients are not asked for
 * one.
 *
 * Every member this module starts and has not seen exit is SIGKILLed when
 * this process exits, however it exits short of SIGKILL.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createClusterCertificates } from '@vsr/node';
import { KvHttpClient } from '../src/http-client.js';
import { sleep } from './generator.js';

const MEMBER_COUNT = 3;
const LOG_LINES_KEPT = 20;

export interface EtcdMember {
  readonly name: string;
  readonly child: ChildProcess;
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** Its last lines of output, for the error when it fails. */
  readonly lastLines: string[];
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** The CA of the members' certificates (PEM) with `tls`. */
  readonly ca: string | undefined;
}

export interface EtcdClusterOptions {
  readonly binary: string;
  readonly directory: string;
  readonly port: number;
  readonly tls: boolean;
  readonly log: (line: string) => void;
}

/** Members started and not yet seen to exit: killed if this process exits first. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

// ---------------------------------------------------------------------------
// Installing

/** `etcd --version`'s output, or null if there is no etcd to run. */
export function etcdVersionOutput(binary = 'etcd'): string | null {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8', env: etcdEnvironment() });
  return result.error !== undefined || result.status !== 0 ? null : `${result.stdout}${result.stderr}`;
}

function runLogged(command: string, args: readonly string[], log: (line: string) => void): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    const lines: string[] = [];
    const take = (line: string) => {
      lines.push(line);
      log(`[${command}] ${line}`);
    };
    createInterface({ input: child.stdout }).on('line', take);
    createInterface({ input: child.stderr }).on('line', take);
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output: lines.join('\n') }));
  });
}

/** Installs Debian's etcd-server if no `etcd` runs (apt-get update first if the package lists lack it); returns `etcd --version`'s output. */
export async function ensureEtcd(log: (line: string) => void): Promise<string> {
  const found = etcdVersionOutput();
  if (found !== null) return found;
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).error !== undefined) {
    throw new Error('etcd is not installed and apt-get is not available to install it: install etcd 3.4 or later so that `etcd` is on the PATH, and run this again');
  }
  if (process.getuid?.() !== 0) {
    throw new Error('etcd is not installed, and installing it needs root: run `sudo apt-get install -y etcd-server` (or this benchmark as root), then run this again');
  }
  log('etcd is not installed: apt-get install -y etcd-server…');
  let install = await runLogged('apt-get', ['install', '-y', 'etcd-server'], log);
  if (install.code !== 0 && /Unable to locate package|has no installation candidate|Failed to fetch|404\s+Not Found/i.test(install.output)) {
    log('the package lists lack etcd-server: apt-get update, then the install again…');
    const update = await runLogged('apt-get', ['update'], log);
    if (update.code !== 0) throw new Error(`apt-get update failed (exit ${update.code}); its last lines:\n${tail(update.output)}`);
    install = await runLogged('apt-get', ['install', '-y', 'etcd-server'], log);
  }
  if (install.code !== 0) throw new Error(`apt-get install -y etcd-server failed (exit ${install.code}); its last lines:\n${tail(install.output)}`);
  const installed = etcdVersionOutput();
  if (installed === null) throw new Error('apt-get installed etcd-server, but `etcd --version` still does not run');
  return installed;
}

const tail = (text: string, lines = 10) => text.split('\n').slice(-lines).join('\n');

/** The environment without ETCD_* variables, which etcd would read as flags. */
function etcdEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ETCD_')));
}

// ---------------------------------------------------------------------------
// Starting and stopping

/** The arguments of member `index` (with `tls`, its certificate and key in DIRECTORY/tls, as `writeCertificates` leaves them). */
export function etcdMemberArgs(index: number, options: { readonly directory: string; readonly port: number; readonly tls: boolean; readonly clusterToken: string }): string[] {
  const scheme = options.tls ? 'https' : 'http';
  const clientUrl = (i: number) => `${scheme}://127.0.0.1:${options.port + i}`;
  const peerUrl = (i: number) => `${scheme}://127.0.0.1:${options.port + 10 + i}`;
  const cluster = Array.from({ length: MEMBER_COUNT }, (_, i) => `m${i}=${peerUrl(i)}`).join(',');
  const tlsDirectory = join(options.directory, 'tls');
  const tls = options.tls
    ? [
        '--cert-file', join(tlsDirectory, `m${index}.pem`), '--key-file', join(tlsDirectory, `m${index}-key.pem`),
        '--peer-cert-file', join(tlsDirectory, `m${index}.pem`), '--peer-key-file', join(tlsDirectory, `m${index}-key.pem`),
        '--peer-trusted-ca-file', join(tlsDirectory, 'ca.pem'), '--peer-client-cert-auth',
      ]
    : [];
  return [
    '--name', `m${index}`,
    '--data-dir', join(options.directory, `m${index}`),
    '--listen-client-urls', clientUrl(index), '--advertise-client-urls', clientUrl(index),
    '--listen-peer-urls', peerUrl(index), '--initial-advertise-peer-urls', peerUrl(index),
    '--initial-cluster', cluster, '--initial-cluster-state', 'new', '--initial-cluster-token', options.clusterToken,
    '--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'error',
    ...tls,
  ];
}

function writeCertificates(directory: string): string {
  const tlsDirectory = join(directory, 'tls');
  mkdirSync(tlsDirectory, { recursive: true, mode: 0o700 });
  const certificates = createClusterCertificates({ replicaCount: MEMBER_COUNT, hosts: ['127.0.0.1'] });
  writeFileSync(join(tlsDirectory, 'ca.pem'), certificates.ca.cert, { mode: 0o600 });
  certificates.replicas.forEach((issued, i) => {
    writeFileSync(join(tlsDirectory, `m${i}.pem`), issued.cert, { mode: 0o600 });
    writeFileSync(join(tlsDirectory, `m${i}-key.pem`), issued.key, { mode: 0o600 });
  });
  return certificates.ca.cert;
}

/** Spawns the three members (each in a process group of its own, so Ctrl-C reaches only this process, which stops them). */
export function launchEtcdCluster(options: EtcdClusterOptions): EtcdCluster {
  const ca = options.tls ? writeCertificates(options.directory) : undefined;
  const clusterToken = `vsr-bench-${randomBytes(6).toString('hex')}`;
  const members = Array.from({ length: MEMBER_COUNT }, (_, index): EtcdMember => {
    const args = etcdMemberArgs(index, { ...options, clusterToken });
    const child = spawn(options.binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: etcdEnvironment() });
    running.add(child);
    child.once('exit', () => running.delete(child));
    child.once('error', (error) => options.log(`[etcd m${index}] ${error.message}`));
    const flag = (name: string) => args[args.indexOf(name) + 1] ?? '';
    const member: EtcdMember = { name: `m${index}`, child, clientUrl: flag('--advertise-client-urls'), peerUrl: flag('--initial-advertise-peer-urls'), lastLines: [] };
    const take = (line: string) => {
      member.lastLines.push(line);
      if (member.lastLines.length > LOG_LINES_KEPT) member.lastLines.shift();
      options.log(`[etcd ${member.name}] ${line}`);
    };
    createInterface({ input: child.stdout }).on('line', take);
    createInterface({ input: child.stderr }).on('line', take);
    return member;
  });
  return { members, ca };
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** One GET /health: null if healthy, else why not. */
async function unhealthy(client: KvHttpClient, member: EtcdMember): Promise<string | null> {
  try {
    const answer = await client.request('GET', `${member.clientUrl}/health`, { timeoutMs: 2_000 });
    const body = JSON.parse(answer.text) as { health?: unknown };
    return answer.status === 200 && body.health === 'true' ? null : `HTTP ${answer.status} ${answer.text.trim()}`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** Resolves once every member's GET /health answers {"health":"true"}; rejects, naming the member, if one exits or `timeoutMs` passes first. */
export async function waitHealthy(cluster: EtcdCluster, timeoutMs: number): Promise<void> {
  const client = new KvHttpClient(cluster.ca === undefined ? {} : { ca: cluster.ca }, { keepAlive: false });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const dead = cluster.members.find((member) => exited(member.child));
      if (dead !== undefined) {
        throw new Error(`etcd member ${dead.name} exited (${dead.child.signalCode ?? `code ${dead.child.exitCode}`}) before the cluster was healthy (a port in use? --port moves them); its last lines:\n${dead.lastLines.join('\n')}`);
      }
      const reasons = await Promise.all(cluster.members.map((member) => unhealthy(client, member)));
      const sick = cluster.members.flatMap((member, i) => (reasons[i] === null ? [] : [`${member.name} (${member.clientUrl}): ${reasons[i]}`]));
      if (sick.length === 0) return;
      if (Date.now() > deadline) throw new Error(`the etcd cluster was not healthy within ${timeoutMs} ms: ${sick.join('; ')}`);
      await sleep(100);
    }
  } finally {
    client.close();
  }
}

/** SIGTERM to every member, SIGKILL to any still running after `graceMs`; resolves once all have exited. */
export async function stopEtcdCluster(cluster: EtcdCluster, graceMs = 5_000): Promise<void> {
  await Promise.all(
    cluster.members.map(
      ({ child }) =>
        new Promise<void>((done) => {
          if (exited(child) || child.pid === undefined) return done();
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          child.once('close', () => {
            clearTimeout(timer);
            done();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}
