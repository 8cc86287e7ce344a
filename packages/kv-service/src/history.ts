/**
 * Records what HTTP clients of `vsr-kv` saw, as a history the simulator's
 * linearizability checker reads: each operation's call and return times and
 * its result, or "indeterminate" when the client never learned the outcome
 * (a 503, a dropped connection, a timeout: the operation may still execute).
 * Used by the process tests and by the chaos script.
 */
import type { HistoryOperation } from '@vsr/simulator';
import type { KvOperation, KvResult, Value } from '@vsr/kv';
import { KvHttpClient } from './http-client.js';

export class HttpHistory {
  readonly operations: HistoryOperation[] = [];
  private nextId = 0;

  /** `client` carries the cluster's CA and token, if it has them. */
  constructor(
    private readonly client: KvHttpClient = new KvHttpClient(),
    private readonly timeoutMs = 8_000,
  ) {}

  /** Runs `operation` against the replica at `baseUrl` (http://host:port) and records it. Throws on an answer that makes no sense. */
  async run(baseUrl: string, clientId: string, operation: KvOperation): Promise<void> {
    const url = `${baseUrl}/kv/${encodeURIComponent(operation.key)}`;
    const entry: HistoryOperation = { id: this.nextId++, clientId, operation, callMs: performance.now(), returnMs: null, outcome: { type: 'indeterminate' } };
    this.operations.push(entry);
    let status: number;
    let answerBody: Record<string, unknown>;
    try {
      const json = { 'content-type': 'application/json' };
      const [method, target, requestBody, headers] =
        operation.type === 'write'
          ? ['PUT', url, JSON.stringify(operation.value), json]
          : operation.type === 'cas'
            ? ['POST', `${url}/cas`, JSON.stringify({ expected: operation.expected, value: operation.value }), json]
            : [operation.type === 'delete' ? 'DELETE' : 'GET', url, undefined, {}];
      const answer = await this.client.request(method, target, { ...(requestBody === undefined ? {} : { body: requestBody }), headers, timeoutMs: this.timeoutMs });
      status = answer.status;
      answerBody = JSON.parse(answer.text) as Record<string, unknown>;
    } catch {
      return; // The replica died, or no answer in time: the outcome is unknown.
    }
    if (status === 503) return; // Unknown too: it may still take effect.
    entry.outcome = { type: 'ok', result: resultOf(operation, status, answerBody) };
    entry.returnMs = performance.now();
  }

  get acknowledged(): number {
    return this.operations.filter((op) => op.outcome.type === 'ok').length;
  }
}

/** The `KvResult` an HTTP answer stands for. */
export function resultOf(operation: KvOperation, code: number, body: Record<string, unknown>): KvResult {
  switch (operation.type) {
    case 'read':
      if (code === 404) return { ok: false, error: 'not-found' };
      if (code === 200) return { ok: true, value: body['value'] as Value };
      break;
    case 'write':
      if (code === 200) return { ok: true };
      break;
    case 'cas':
      if (code === 200) return { ok: true };
      if (code === 404) return { ok: false, error: 'not-found' };
      if (code === 409) return { ok: false, error: 'precondition-failed', actual: body['actual'] as Value };
      break;
    case 'delete':
      if (code === 200) return { ok: true, existed: body['existed'] as boolean };
      break;
  }
  throw new Error(`unexpected answer ${code} ${JSON.stringify(body)} to ${JSON.stringify(operation)}`);
}
