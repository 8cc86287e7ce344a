/**
 * `MaelstromNode` in process: nodes wired to each other by a router of the test's own (no
 * processes), with stdin lines handed to `handleLine` and stdout messages collected.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MaelstromNode, type NodeSettings, type OutMessage } from '../src/node.js';
import type { NodeLog } from '../src/log.js';

interface TestNode {
  readonly node: MaelstromNode;
  readonly refusals: string[];
  readonly infos: string[];
}

/** In-process nodes: node-to-node messages are delivered on the next turn unless `cut`; client messages are collected. */
class Cluster {
  readonly nodes = new Map<string, TestNode>();
  readonly toClients: OutMessage[] = [];
  cut = false;
  private messageId = 0;

  constructor(
    readonly nodeIds: readonly string[],
    settings: Partial<NodeSettings> = {},
  ) {
    for (const nodeId of nodeIds) {
      const refusals: string[] = [];
      const infos: string[] = [];
      const log: NodeLog = { info: (text) => infos.push(text), refuse: (text) => refusals.push(text) };
      const node = new MaelstromNode({ write: (message) => this.route(message), log, processNonce: 'test', settings, onFatal: (error) => infos.push(`FATAL ${error.message}`) });
      this.nodes.set(nodeId, { node, refusals, infos });
    }
  }

  of(nodeId: string): TestNode {
    const found = this.nodes.get(nodeId);
    if (found === undefined) throw new Error(`no node ${nodeId}`);
    return found;
  }

  line(nodeId: string, message: unknown): void {
    this.of(nodeId).node.handleLine(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Sends a client's request and resolves with the answer's body. */
  async call(nodeId: string, src: string, body: Record<string, unknown>, timeoutMs = 5_000): Promise<Record<string, unknown>> {
    const msgId = ++this.messageId;
    this.line(nodeId, { src, dest: nodeId, body: { ...body, msg_id: msgId } });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = this.toClients.find((message) => message.dest === src && message.body.in_reply_to === msgId);
      if (answer !== undefined) return answer.body;
      if (Date.now() > deadline) throw new Error(`no answer to ${JSON.stringify(body)} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async init(): Promise<void> {
    for (const nodeId of this.nodeIds) expect(await this.call(nodeId, 'c0', { type: 'init', node_id: nodeId, node_ids: this.nodeIds })).toMatchObject({ type: 'init_ok' });
  }

  close(): void {
    for (const { node } of this.nodes.values()) node.close();
  }

  private route(message: OutMessage): void {
    expect(() => JSON.stringify(message)).not.toThrow();
    if (!this.nodes.has(message.dest)) {
      this.toClients.push(message);
      return;
    }
    if (this.cut) return;
    const line = JSON.stringify(message);
    setImmediate(() => this.of(message.dest).node.handleLine(line));
  }
}

let cluster: Cluster | undefined;
afterEach(() => cluster?.close());

describe('MaelstromNode', () => {
  it('refuses clients before init with 11, and peer traffic on the log', async () => {
    cluster = new Cluster(['n1']);
    expect(await cluster.call('n1', 'c1', { type: 'read', key: 1 })).toMatchObject({ type: 'error', code: 11 });
    cluster.line('n1', { src: 'n2', dest: 'n1', body: { type: 'vsr', msg: {} } });
    expect(cluster.of('n1').refusals.at(-1)).toMatch(/a vsr from n2 before init/);
    expect(cluster.toClients.filter((message) => message.dest === 'n2')).toEqual([]);
  });

  it('checks init, answers a repeated init, and refuses a different one', async () => {
    cluster = new Cluster(['n1']);
    expect(await cluster.call('n1', 'c0', { type: 'init', node_id: 'n1', node_ids: ['n2', 'n3'] })).toMatchObject({ type: 'error', code: 12, text: 'node_ids does not list node_id n1' });
    expect(await cluster.call('n1', 'c0', { type: 'init', node_id: 'n1', node_ids: ['n1', 'n1'] })).toMatchObject({ type: 'error', code: 12, text: 'node_ids: n1 is listed twice' });
    expect(await cluster.call('n1', 'c0', { type: 'init', node_id: 'n1', node_ids: ['n1'] })).toMatchObject({ type: 'init_ok' });
    expect(await cluster.call('n1', 'c0', { type: 'init', node_id: 'n1', node_ids: ['n1'] })).toMatchObject({ type: 'init_ok' });
    expect(await cluster.call('n1', 'c0', { type: 'init', node_id: 'n1', node_ids: ['n1', 'n2'] })).toMatchObject({ type: 'error', code: 12 });
    expect(cluster.of('n1').node.replica?.replicaCount).toBe(1);
  });

  it('serves lin-kv on one node: values are JSON, compared as JSON, and errors carry their codes', async () => {
    cluster = new Cluster(['n1']);
    await cluster.init();
    const call = (body: Record<string, unknown>) => (cluster as Cluster).call('n1', 'c1', body);
    expect(await call({ type: 'write', key: [1, 'a'], value: { b: 2, a: [1] } })).toMatchObject({ type: 'write_ok' });
    expect(await call({ type: 'read', key: [1, 'a'] })).toMatchObject({ type: 'read_ok', value: { a: [1], b: 2 } });
    // Field order does not matter to cas; the string "5" is not the number 5.
    expect(await call({ type: 'cas', key: [1, 'a'], from: { a: [1], b: 2 }, to: 5 })).toMatchObject({ type: 'cas_ok' });
    expect(await call({ type: 'cas', key: [1, 'a'], from: '5', to: 6 })).toMatchObject({ type: 'error', code: 22 });
    expect(await call({ type: 'cas', key: 'absent', from: 1, to: 2 })).toMatchObject({ type: 'error', code: 20 });
    expect(await call({ type: 'read', key: 'absent' })).toMatchObject({ type: 'error', code: 20 });
    expect(await call({ type: 'write', key: 1 })).toMatchObject({ type: 'error', code: 12, text: 'a write needs a value' });
    expect(await call({ type: 'read', key: 'x'.repeat(300) })).toMatchObject({ type: 'error', code: 12 });
    expect(await call({ type: 'cas', key: 1, from: 1, to: 2, create_if_not_exists: true })).toMatchObject({ type: 'error', code: 10 });
    expect(await call({ type: 'txn', txn: [] })).toMatchObject({ type: 'error', code: 10 });
    expect(cluster.of('n1').refusals.at(-1)).toMatch(/a txn from c1: message type "txn" is not supported/);
  });

  it('serves names of the longest length allowed (its client ids stay within the core bound of 128)', async () => {
    const nodeId = 'n'.repeat(64);
    cluster = new Cluster([nodeId]);
    await cluster.init();
    expect(await cluster.call(nodeId, 'c'.repeat(64), { type: 'write', key: 1, value: 1 })).toMatchObject({ type: 'write_ok' });
    expect(await cluster.call(nodeId, 'c'.repeat(65), { type: 'write', key: 1, value: 1 }, 50).catch((error: Error) => error.message)).toMatch(/no answer/);
    expect(cluster.of(nodeId).refusals.at(-1)).toMatch(/src is not a name of 1..64 characters/);
  });

  it('answers a garbled request from a client with 12 when its msg_id is readable', async () => {
    cluster = new Cluster(['n1']);
    await cluster.init();
    cluster.line('n1', '{"src":"c1","dest":"n1","body":{"msg_id":77,"type":5}}');
    expect(cluster.toClients.find((message) => message.body.in_reply_to === 77)?.body).toMatchObject({ type: 'error', code: 12 });
    cluster.line('n1', '{"src":"c1","dest":"n1","body":{"msg_id":-1,"type":"read","key":1}}');
    expect(cluster.of('n1').refusals.at(-1)).toMatch(/msg_id is not a non-negative integer/);
  });

  it('forwards a request from a backup to the primary and answers there', async () => {
    cluster = new Cluster(['n1', 'n2', 'n3']);
    await cluster.init();
    // n1 is view 0's primary; n3 is a backup: its session goes to n1 through vsr_request / vsr_reply.
    expect(await cluster.call('n3', 'c1', { type: 'write', key: 1, value: 10 })).toMatchObject({ type: 'write_ok' });
    expect(await cluster.call('n2', 'c2', { type: 'read', key: 1 })).toMatchObject({ type: 'read_ok', value: 10 });
    expect(cluster.of('n3').refusals).toEqual([]);
  });

  it('gives a second operation of one client its own session, refuses past the bound with 11, and times out write as 13 and read as 11', async () => {
    cluster = new Cluster(['n1', 'n2', 'n3'], { requestTimeoutMs: 300, attemptTimeoutMs: 100, sessionsPerClientMax: 2 });
    await cluster.init();
    cluster.cut = true; // n3 cannot reach the primary: its operations stay pending until they time out.
    const write = cluster.call('n3', 'c1', { type: 'write', key: 1, value: 1 });
    const read = cluster.call('n3', 'c1', { type: 'read', key: 1 });
    // A third, with both sessions busy: refused at once, never sent.
    expect(await cluster.call('n3', 'c1', { type: 'cas', key: 1, from: 1, to: 2 }, 50)).toMatchObject({ type: 'error', code: 11, text: expect.stringMatching(/2 operations in flight .* not sent/) });
    expect(await write).toMatchObject({ type: 'error', code: 13, text: expect.stringMatching(/may or may not have executed/) });
    expect(await read).toMatchObject({ type: 'error', code: 11 });
  });
});
