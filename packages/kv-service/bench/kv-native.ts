/**
 * The benchmark's clients over the project's own client protocol instead of HTTP: each closed-
 * loop client is a `VsrClient`, all of them on one `ClusterLink` (one TCP connection to each
 * replica's peer port, as `VsrClient` users have), with the cluster's CA and token when it has
 * them. A write is `{type: 'write'}` through the log; a read is `VsrClient.read` without it.
 */
import { ClusterLink, VsrClient } from '@vsr/node';
import type { KvResult } from '@vsr/kv';
import type { Failure, LoadConnection } from './generator.js';
import { endpointOf } from './kv-wire.js';

export interface NativeWire {
  /** Each replica's peer address, `host:port`, by replica id. */
  readonly peers: readonly string[];
  readonly ca: string | undefined;
  readonly token: string | undefined;
}

export function nativeLink(wire: NativeWire): ClusterLink {
  return new ClusterLink({
    replicas: wire.peers.map(endpointOf),
    ...(wire.token === undefined ? {} : { token: wire.token }),
    ...(wire.ca === undefined ? {} : { tls: { ca: wire.ca } }),
  });
}

/** A result the benchmark counts as a success: an ok write, or a read's value or not-found. */
export function classifyNative(op: 'put' | 'get', result: KvResult): Failure | null {
  if (result.ok) return null;
  if (op === 'get' && result.error === 'not-found') return null;
  return [`result ${result.error}`, JSON.stringify(result).slice(0, 300)];
}

/** Client `index`, starting at replica `primaryGuess` (it follows redirects from there). */
export function nativeConnection(link: ClusterLink, primaryGuess: number, op: 'put' | 'get', timeoutMs: number): LoadConnection {
  const client = new VsrClient({ link, timeoutMs, attemptTimeoutMs: Math.min(1_000, timeoutMs), primaryGuess });
  return {
    label: `vsr://replica ${primaryGuess}`,
    call: async (key, value) => {
      const result = (op === 'get' ? await client.read({ type: 'read', key }) : await client.request({ type: 'write', key, value })) as KvResult;
      return classifyNative(op, result);
    },
    close: () => client.close(),
  };
}
