/** Shared by the Node tests: fast timeouts, and three replicas over TCP on 127.0.0.1 in a temporary directory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kvMachine } from '@vsr/kv';
import { startReplica, tcpTransport, type Address, type ReplicaHandle, type TcpTransport } from '../src/index.js';

export const TIMEOUTS = { heartbeatMs: 20, primaryTimeoutMs: 150, prepareRetryMs: 20, viewChangeTimeoutMs: 400, viewChangeRetryMs: 40, repairRetryMs: 40, recoveryRetryMs: 40 };

/** Starts three kv replicas over authenticated TCP; `cleanup` gets the function that stops them and removes their files. */
export async function tcpCluster(
  cleanup: (stop: () => Promise<void>) => void,
  limits: Record<string, number> = {},
): Promise<{ replicas: Array<ReplicaHandle | null>; addresses: Address[] }> {
  const root = mkdtempSync(join(tmpdir(), 'vsr-tcp-'));
  const transports: TcpTransport[] = [];
  for (let replicaId = 0; replicaId < 3; replicaId++) {
    const transport = tcpTransport({
      replicaId,
      replicaCount: 3,
      listen: { host: '127.0.0.1', port: 0 },
      peer: (id) => transports[id]?.address(),
      secret: 'cluster-secret',
    });
    await transport.ready;
    transports.push(transport);
  }
  const replicas: Array<ReplicaHandle | null> = transports.map((transport, replicaId) =>
    startReplica({
      config: { replicaId, replicaCount: 3, timeouts: TIMEOUTS, limits },
      machine: kvMachine,
      directory: join(root, `replica-${replicaId}`),
      create: true,
      transport,
    }),
  );
  cleanup(async () => {
    await Promise.all(replicas.flatMap((replica) => (replica === null ? [] : [replica.close()])));
    rmSync(root, { recursive: true, force: true });
  });
  return { replicas, addresses: transports.map((transport) => transport.address()) };
}
