/**
 * The `vsr-maelstrom` command line: the node's settings as flags. Every flag is optional; the
 * defaults suit Maelstrom's lin-kv runs (its clients time out after a few seconds, so a node
 * answers first: an indefinite error 13 rather than silence).
 */
import { parseArgs as parseNodeArgs } from 'node:util';
import { integerFlag, UsageError } from '@vsr/core/cli-flags';
import { DEFAULT_NODE_SETTINGS, type NodeSettings } from './node.js';

export const USAGE = `usage: vsr-maelstrom [--request-timeout-ms N] [--attempt-timeout-ms N] [--sessions-per-client N]
                     [--reads confirmed|log] [--heartbeat-ms N] [--primary-timeout-ms N]
  Reads Maelstrom messages on stdin, one JSON object a line, writes them on stdout; logs on stderr.
  --request-timeout-ms   how long a client operation may take, retries included (default ${DEFAULT_NODE_SETTINGS.requestTimeoutMs})
  --attempt-timeout-ms   how long to wait on one replica before trying the next (default ${DEFAULT_NODE_SETTINGS.attemptTimeoutMs})
  --sessions-per-client  operations in flight for one Maelstrom client (default ${DEFAULT_NODE_SETTINGS.sessionsPerClientMax})
  --reads                confirmed: reads without the log, the primary confirming its view (default);
                         log: reads as operations through the log
  --heartbeat-ms, --primary-timeout-ms   the replica's timers (default: the core's)`;

export function parseArgs(argv: readonly string[]): Partial<NodeSettings> {
  let values;
  try {
    ({ values } = parseNodeArgs({
      args: [...argv],
      options: {
        'request-timeout-ms': { type: 'string' },
        'attempt-timeout-ms': { type: 'string' },
        'sessions-per-client': { type: 'string' },
        reads: { type: 'string' },
        'heartbeat-ms': { type: 'string' },
        'primary-timeout-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help === true) throw new UsageError('');
  const reads = values.reads ?? DEFAULT_NODE_SETTINGS.reads;
  if (reads !== 'confirmed' && reads !== 'log') throw new UsageError(`--reads: expected confirmed or log, got '${reads}'`);
  const timeouts: Record<string, number> = {};
  if (values['heartbeat-ms'] !== undefined) timeouts.heartbeatMs = integerFlag(values['heartbeat-ms'], '--heartbeat-ms', { min: 1 });
  if (values['primary-timeout-ms'] !== undefined) timeouts.primaryTimeoutMs = integerFlag(values['primary-timeout-ms'], '--primary-timeout-ms', { min: 1 });
  return {
    requestTimeoutMs: integerFlag(values['request-timeout-ms'], '--request-timeout-ms', { min: 1, max: 3_600_000, fallback: DEFAULT_NODE_SETTINGS.requestTimeoutMs }),
    attemptTimeoutMs: integerFlag(values['attempt-timeout-ms'], '--attempt-timeout-ms', { min: 1, max: 3_600_000, fallback: DEFAULT_NODE_SETTINGS.attemptTimeoutMs }),
    sessionsPerClientMax: integerFlag(values['sessions-per-client'], '--sessions-per-client', { min: 1, max: 64, fallback: DEFAULT_NODE_SETTINGS.sessionsPerClientMax }),
    reads,
    timeouts,
  };
}
