/**
 * `npm run chaos:kv`: a Jepsen-style run against real `vsr-kv` processes.
 *
 * Starts a fresh three-replica cluster on 127.0.0.1, runs `--clients`
 * closed-loop HTTP clients doing reads, writes and compare-and-sets on a few
 * keys through every replica, and meanwhile `kill -9`s a random replica every
 * `--kill-every-ms` and restarts it after `--down-ms` (sometimes the primary,
 * sometimes a backup; never more than one down). Then it heals, reads every
 * key through every replica, and checks the whole client history with the
 * simulator's linearizability checker. It prints what happened and exits 1
 * on a violation (or if nothing was acknowledged).
 *
 *   npm run chaos:kv -- --seconds 30 --clients 8 --kill-every-ms 3000 --down-ms 1500
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkLinearizability } from '@vsr/simulator';
import type { KvOperation } from '@vsr/kv';
import { HttpHistory, KvHttpClient, clusterSecurity, restartReplica, startCluster, stopCluster, type ReplicaProcess } from '../src/index.js';

function flag(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`--${name}: expected a positive number, got ${JSON.stringify(value)}`);
  return parsed;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    strict: true,
    options: {
      seconds: { type: 'string' },
      clients: { type: 'string' },
      keys: { type: 'string' },
      'kill-every-ms': { type: 'string' },
      'down-ms': { type: 'string' },
      port: { type: 'string' },
    },
  });
  const seconds = flag(values.seconds, 'seconds', 20);
  const clientCount = flag(values.clients, 'clients', 8);
  const keyCount = flag(values.keys, 'keys', 5);
  const killEveryMs = flag(values['kill-every-ms'], 'kill-every-ms', 3_000);
  const downMs = flag(values['down-ms'], 'down-ms', 1_500);
  const port = flag(values.port, 'port', 7600);
  const directory = mkdtempSync(join(tmpdir(), 'vsr-kv-chaos-'));
  const config = JSON.stringify({ timeouts: { heartbeatMs: 50, primaryTimeoutMs: 300, viewChangeTimeoutMs: 600 }, limits: { checkpointIntervalOps: 256 } });
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`chaos: 3 replicas in ${directory}, ${clientCount} clients on ${keyCount} keys for ${seconds} s, kill -9 every ${killEveryMs} ms, down ${downMs} ms`);
  const replicas: ReplicaProcess[] = await startCluster({ replicaCount: 3, directory, port, serveArgs: ['--config', config, '--timeout-ms', '3000'], out: () => {} });
  const security = clusterSecurity(directory);
  const client = new KvHttpClient(security);
  const url = (id: number) => `${security.scheme}://${replicas[id]!.http}`;
  const alive = (id: number) => replicas[id]!.child.exitCode === null && replicas[id]!.child.signalCode === null;
  const stop = () => stopCluster(replicas).then(() => rmSync(directory, { recursive: true, force: true }));
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));

  const history = new HttpHistory(client, 5_000);
  const keys = Array.from({ length: keyCount }, (_, i) => `key-${i}`);
  const endAt = performance.now() + seconds * 1_000;
  let kills = 0;
  let killedPrimaries = 0;
  let random = 0x2545f491;
  const next = (n: number) => {
    random ^= random << 13;
    random ^= random >>> 17;
    random ^= random << 5;
    return (random >>> 0) % n;
  };

  const clients = Array.from({ length: clientCount }, async (_, c) => {
    const clientId = `chaos-${c}`;
    for (let i = 0; performance.now() < endAt; i++) {
      let target = (c + i) % 3;
      if (!alive(target)) target = (target + 1) % 3;
      const key = keys[next(keys.length)]!;
      const roll = next(10);
      const operation: KvOperation =
        roll < 4 ? { type: 'write', key, value: `${clientId}:${i}` } : roll < 8 ? { type: 'read', key } : { type: 'cas', key, expected: `${clientId}:${i - 1}`, value: `${clientId}:${i}` };
      await history.run(url(target), clientId, operation);
    }
  });

  const nemesis = (async () => {
    while (performance.now() + killEveryMs < endAt) {
      await new Promise((resolve) => setTimeout(resolve, killEveryMs));
      const victim = next(3);
      const status = (await client.request('GET', `${url(victim)}/status`).then((answer) => JSON.parse(answer.text) as unknown).catch(() => null)) as { primary?: number } | null;
      if (status?.primary === victim) killedPrimaries++;
      const exited = new Promise((resolve) => replicas[victim]!.child.once('exit', resolve));
      replicas[victim]!.child.kill('SIGKILL');
      await exited;
      kills++;
      await new Promise((resolve) => setTimeout(resolve, downMs));
      replicas[victim] = await restartReplica(replicas[victim]!, () => {});
    }
  })();

  await Promise.all([...clients, nemesis]);
  // Healed: every replica is up. Final reads through each, part of the checked history.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  for (let id = 0; id < 3; id++) for (const key of keys) await history.run(url(id), `final-${id}`, { type: 'read', key });
  await stop();

  const operations = history.operations;
  const acknowledged = history.acknowledged;
  const verdict = checkLinearizability(operations);
  log(`operations: ${operations.length} (${acknowledged} acknowledged, ${operations.length - acknowledged} indeterminate)`);
  log(`kill -9: ${kills} (${killedPrimaries} of them the primary)`);
  log(`linearizable: ${verdict.linearizable}${verdict.counterexample ? `\n${verdict.counterexample.explanation}` : ''}`);
  return verdict.linearizable && acknowledged > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`chaos: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
