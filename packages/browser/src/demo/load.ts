/**
 * A load of concurrent clients on the demo cluster, for the Chromium tests
 * and the benchmark (reached through `window.vsrDemo.runLoad`). Each client
 * has a fresh client id and one request outstanding at a time; it writes
 * increasing numbers to a key of its own, so that the test can tell an
 * acknowledged write from a lost one, and (when `readShare` or `casShare`
 * say so) reads and compare-and-sets keys shared by every client, so that
 * the history has something for the linearizability checker to chew on.
 */
import type { KvOperation } from '@vsr/kv';
import type { DemoCluster } from './demo-cluster.js';

export interface LoadOptions {
  readonly clients: number;
  readonly durationMs: number;
  /** Shares of reads and compare-and-sets on the shared keys (the rest are writes to the client's own key). Default 0. */
  readonly readShare?: number;
  readonly casShare?: number;
  /** How many shared keys (default 3). */
  readonly sharedKeys?: number;
}

export interface LoadResult {
  /** Requests answered, and how many of them were writes. */
  readonly answered: number;
  readonly writesAnswered: number;
  /** Latency of every answered request, in ms, in the order they were answered. */
  readonly latenciesMs: number[];
  readonly writeLatenciesMs: number[];
  /** The requests that failed (timed out or were refused), with the client's words. */
  readonly failures: string[];
  /** For each client's own key, the highest value a write of it was acknowledged with. */
  readonly acknowledged: Record<string, number>;
  readonly elapsedMs: number;
}

/** The key client `index` writes. */
export function ownKey(index: number): string {
  return `load-${index}`;
}

function nextOperation(index: number, counter: number, options: LoadOptions, random: () => number): KvOperation {
  const shared = `shared-${Math.floor(random() * (options.sharedKeys ?? 3))}`;
  const draw = random();
  if (draw < (options.readShare ?? 0)) return { type: 'read', key: shared };
  if (draw < (options.readShare ?? 0) + (options.casShare ?? 0)) {
    return { type: 'cas', key: shared, expected: random() < 0.3 ? null : Math.floor(random() * 4), value: Math.floor(random() * 4) };
  }
  return { type: 'write', key: ownKey(index), value: counter };
}

export async function runLoad(cluster: DemoCluster, options: LoadOptions): Promise<LoadResult> {
  if (!Number.isInteger(options.clients) || options.clients < 1) throw new Error(`runLoad: clients must be a positive integer, got ${options.clients}`);
  const startMs = performance.now();
  const deadlineMs = startMs + options.durationMs;
  const result = { answered: 0, writesAnswered: 0, latenciesMs: [] as number[], writeLatenciesMs: [] as number[], failures: [] as string[], acknowledged: {} as Record<string, number> };
  const clients = Array.from({ length: options.clients }, () => cluster.newClient());
  await Promise.all(
    clients.map(async (client, index) => {
      for (let counter = 1; performance.now() < deadlineMs; counter++) {
        const operation = nextOperation(index, counter, options, Math.random);
        const sentMs = performance.now();
        try {
          await client.request(operation);
        } catch (error) {
          result.failures.push(`${client.clientId}: ${error instanceof Error ? error.message : String(error)}`);
          continue;
        }
        const latencyMs = performance.now() - sentMs;
        result.answered++;
        result.latenciesMs.push(latencyMs);
        if (operation.type === 'write') {
          result.writesAnswered++;
          result.writeLatenciesMs.push(latencyMs);
          result.acknowledged[operation.key] = Math.max(result.acknowledged[operation.key] ?? 0, counter);
        }
      }
    }),
  );
  return { ...result, elapsedMs: performance.now() - startMs };
}
