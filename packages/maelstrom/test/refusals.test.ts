/**
 * Three `vsr-maelstrom` processes behind the harness's network, without partitions: malformed
 * input of every kind is refused on stderr and the node keeps serving, and lin-kv's definite
 * errors come back with their codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Random } from '@vsr/simulator';
import { LinKvClient } from '../src/harness/clients.js';
import { MaelstromNetwork } from '../src/harness/network.js';
import { testSeed } from './seed.js';

const seed = testSeed();
let network: MaelstromNetwork;
let client: LinKvClient;
/** What reached clients the test has no `LinKvClient` for (the sender of raw lines, c9). */
const strays: Array<{ dest: string; body: Record<string, unknown> }> = [];

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function stderrOf(nodeId: string): string {
  return (network.stderr.get(nodeId) ?? []).join('\n');
}

describe(`refusals and error codes on a 3-node cluster (seed ${seed})`, () => {
  beforeAll(async () => {
    console.log(`maelstrom refusals seed ${seed} (replay: VSR_MAELSTROM_SEED=${seed})`);
    const random = new Random(seed);
    network = new MaelstromNetwork({
      nodeCount: 3,
      random: random.fork(),
      delayMsMax: 2,
      onClientMessage: (dest, body) => (dest === client.name ? client.receive(body) : strays.push({ dest, body })),
    });
    client = new LinKvClient('c1', 'n1', (src, dest, body) => network.sendFromClient(src, dest, body), () => {}, random.fork(), () => performance.now(), { keyCount: 1, valueMax: 1, timeoutMs: 5_000 });
    await network.start();
  }, 60_000);

  afterAll(async () => {
    await network.stop();
  });

  it('refuses malformed input on stderr and keeps serving', async () => {
    const deep = `${'['.repeat(100)}1${']'.repeat(100)}`;
    const refused: Array<[line: string, logged: RegExp]> = [
      ['this is not json', /refused: a line that is not JSON/],
      ['{"src":"c9","dest":"n1"}', /refused: a message from c9 whose body is not an object/],
      ['{"src":"c9","dest":"n1","body":{"type":"frobnicate","msg_id":7}}', /refused: .*frobnicate.* is not supported/],
      ['{"src":"n2","dest":"n1","body":{"type":"gossip"}}', /refused: .*gossip from n2/],
      ['{"src":"n2","dest":"n1","body":{"type":"vsr","msg":{"type":"prepare","cluster":0,"replica":1,"viewNumber":"x"}}}', /refused: a vsr message from n2 that does not decode \(msg\.viewNumber/],
      ['{"src":"n2","dest":"n1","body":{"type":"vsr","msg":{"type":"commit","cluster":0,"replica":2,"viewNumber":0,"commitNumber":0}}}', /refused: a vsr message from n2 \(replica 1\) naming replica 2/],
      ['{"src":"n3","dest":"n1","body":{"type":"vsr_reply","reply":{"type":"reply"}}}', /refused: a vsr_reply from n3 that does not decode/],
      [`{"src":"c9","dest":"n1","body":{"type":"write","msg_id":8,"key":1,"value":${deep}}}`, /refused: a line nested more than 64 levels deep/],
      ['{"src":"c9","dest":"n7","body":{"type":"read","msg_id":9,"key":1}}', /refused: a read from c9 for n7, not this node/],
    ];
    for (const [line] of refused) network.sendRaw('n1', line);
    for (const [line, logged] of refused) await until(() => logged.test(stderrOf('n1')), `n1 to log the refusal of ${line.slice(0, 60)}`);
    // The unknown type was also answered, with "not supported".
    await until(() => strays.some(({ body }) => body.in_reply_to === 7), 'an answer to the frobnicate');
    expect(strays.find(({ body }) => body.in_reply_to === 7)?.body).toMatchObject({ type: 'error', code: 10 });
    expect(network.isAlive('n1')).toBe(true);
    // Still serving, through the same node.
    expect(await client.call({ type: 'write', key: 'after-refusals', value: 42 })).toMatchObject({ type: 'write_ok' });
    expect(await client.call({ type: 'read', key: 'after-refusals' })).toMatchObject({ type: 'read_ok', value: 42 });
    expect(await client.call({ type: 'write', key: 'no-value' })).toMatchObject({ type: 'error', code: 12 });
    expect(network.pollution).toEqual([]);
    expect(stderrOf('n1')).not.toMatch(/this is a bug|fatal/);
  }, 30_000);

  it('answers a cas on a missing key with 20 and a cas with the wrong from with 22', async () => {
    expect(await client.call({ type: 'cas', key: 'missing', from: 1, to: 2 })).toMatchObject({ type: 'error', code: 20 });
    expect(await client.call({ type: 'read', key: 'missing' })).toMatchObject({ type: 'error', code: 20 });
    expect(await client.call({ type: 'write', key: 'k', value: 1 })).toMatchObject({ type: 'write_ok' });
    expect(await client.call({ type: 'cas', key: 'k', from: 2, to: 3 })).toMatchObject({ type: 'error', code: 22 });
    expect(await client.call({ type: 'read', key: 'k' })).toMatchObject({ type: 'read_ok', value: 1 });
    expect(await client.call({ type: 'cas', key: 'k', from: 1, to: 3 })).toMatchObject({ type: 'cas_ok' });
    expect(await client.call({ type: 'read', key: 'k' })).toMatchObject({ type: 'read_ok', value: 3 });
  }, 30_000);
});
