/**
 * Hostile and broken input against a running cluster: garbage and forged
 * frames on the peer port, a peer without the secret, bad HTTP requests,
 * bad command lines. Each is refused with a clear reason and the service
 * runs on unharmed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { FrameMac, dialProof, encodeFrame, frameOf, readFrames } from '@vsr/node';
import { CLI_PATH, nodeArgs } from '../src/index.js';
import { http, status, testCluster, waitFor, type TestCluster } from './support.js';

let cluster: TestCluster;
beforeAll(async () => {
  // The shared-secret mode: the peer-port attacks below speak its handshake (TLS has tests of its own).
  cluster = await testCluster({ tls: false });
});
afterAll(async () => {
  await cluster.stop();
});

/** Opens a raw connection to replica 0's peer port; resolves with the listener's challenge nonce. */
function rawPeer(): Promise<{ socket: Socket; nonce: string; closed: Promise<void>; frames: unknown[] }> {
  const [host, port] = cluster.replicas[0]!.peer.split(':');
  const socket = connect(Number(port), host);
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const frames: unknown[] = [];
  return new Promise((resolve) => {
    readFrames(socket, 1 << 20, () => socket.destroy(), (frame) => {
      frames.push(frame);
      if (frames.length === 1) resolve({ socket, nonce: (frame as { nonce: string }).nonce, closed, frames });
    });
  });
}

async function refusedWith(reason: RegExp): Promise<void> {
  await waitFor(`replica 0 to log ${reason}`, () => (cluster.lines.some((line) => line.startsWith('[replica 0]') && reason.test(line)) ? true : undefined), 5_000);
}

async function stillServing(): Promise<void> {
  const key = `alive-${Math.random().toString(36).slice(2)}`;
  expect(await http('PUT', `${cluster.url(1)}/kv/${key}`, 'yes')).toEqual({ status: 200, body: { ok: true } });
  expect(await http('GET', `${cluster.url(0)}/kv/${key}`)).toEqual({ status: 200, body: { key, value: 'yes' } });
  for (let id = 0; id < 3; id++) expect(cluster.alive(id)).toBe(true);
}

describe('the peer port', () => {
  test('garbage bytes close that connection with a logged reason', async () => {
    const { socket, closed } = await rawPeer();
    socket.write(Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('{{{{{')]));
    await closed;
    await refusedWith(/not JSON/);
    await stillServing();
  });

  test('an oversized frame is refused before it is read', async () => {
    const { socket, closed } = await rawPeer();
    socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    await closed;
    await refusedWith(/over the \d+-byte limit/);
    await stillServing();
  });

  test('a peer without the secret cannot authenticate, so it cannot send protocol messages', async () => {
    const { socket, nonce, closed } = await rawPeer();
    const dialerNonce = randomBytes(16).toString('hex');
    const forged = dialProof('not-the-secret', { listenerId: 0, dialerId: 1, listenerNonce: nonce, dialerNonce });
    socket.write(encodeFrame({ type: 'auth', replica: 1, nonce: dialerNonce, mac: forged }));
    socket.write(encodeFrame({ type: 'start-view-change', replica: 1, viewNumber: 99, cluster: 0 }));
    await closed;
    await refusedWith(/authentication failed/);
    expect((await status(cluster.url(0))).viewNumber).toBeLessThan(99);
    await stillServing();
  });

  test('a protocol message sent before any handshake is refused', async () => {
    const { socket, closed } = await rawPeer();
    socket.write(encodeFrame({ type: 'start-view-change', replica: 1, viewNumber: 99 }));
    await closed;
    await refusedWith(/expected an auth or client frame/);
    await stillServing();
  });

  test('an authenticated peer cannot forge messages from another replica', async () => {
    const { socket, nonce, closed } = await rawPeer();
    const facts = { listenerId: 0, dialerId: 2, listenerNonce: nonce, dialerNonce: randomBytes(16).toString('hex') };
    socket.write(encodeFrame({ type: 'auth', replica: 2, nonce: facts.dialerNonce, mac: dialProof(cluster.secret(), facts) }));
    const body = Buffer.from(JSON.stringify({ type: 'start-view-change', replica: 1, viewNumber: 99, cluster: 0 }));
    socket.write(frameOf(new FrameMac(cluster.secret(), 'dialer-to-listener', facts).sign(body), body));
    await closed;
    await refusedWith(/claiming replica 1 on replica 2's connection/);
    expect((await status(cluster.url(0))).viewNumber).toBeLessThan(99);
    await stillServing();
  });
});

const JSON_BODY = { 'content-type': 'application/json' };

describe('the HTTP API', () => {
  const cases: Array<[string, string, string | undefined, Record<string, string>, number, RegExp]> = [
    ['cas with a body that is not JSON', 'POST', '{"expected":', JSON_BODY, 400, /not valid JSON/],
    ['cas without a value', 'POST', '{"expected":"a"}', JSON_BODY, 400, /value is missing/],
    ['cas with an object value', 'POST', '{"expected":"a","value":{"x":1}}', JSON_BODY, 400, /value must be a string .* got an object/],
    ['cas with an array body', 'POST', '[1,2]', JSON_BODY, 400, /JSON object/],
    ['a JSON PUT of null', 'PUT', 'null', { 'content-type': 'application/json' }, 400, /the body must be a string .* got null/],
    ['a JSON PUT that is not JSON', 'PUT', 'hello', { 'content-type': 'application/json' }, 400, /not valid JSON/],
    ['a PUT without a body', 'PUT', undefined, { 'content-type': 'application/json' }, 400, /not valid JSON/],
  ];
  for (const [name, method, body, headers, code, message] of cases) {
    test(`${name}: ${code} with a message`, async () => {
      const path = method === 'POST' ? '/kv/k/cas' : '/kv/k';
      const answer = await http(method, `${cluster.url(0)}${path}`, body, headers);
      expect(answer.status).toBe(code);
      expect(answer.body['error']).toBe('bad-request');
      expect(String(answer.body['message'])).toMatch(message);
    });
  }

  test('bad keys, unknown routes, wrong methods and huge bodies get 400, 404, 405 and 413', async () => {
    const url = cluster.url(2);
    const long = await http('GET', `${url}/kv/${'x'.repeat(300)}`);
    expect(long.status).toBe(400);
    expect(String(long.body['message'])).toMatch(/1 to 256 characters, got 300/);
    expect((await http('GET', `${url}/kv/%E0%A4%A`)).body['message']).toMatch(/percent-encoding/);
    expect((await http('GET', `${url}/nothing`)).status).toBe(404);
    const wrong = await http('PATCH', `${url}/kv/k`, 'x');
    expect(wrong.status).toBe(405);
    expect(String(wrong.body['message'])).toMatch(/use GET or PUT or DELETE here, not PATCH/);
    expect((await http('POST', `${url}/status`)).status).toBe(405);
    expect((await http('PUT', `${url}/kv/k`, 'x'.repeat(300_000))).status).toBe(413);
    const tooLong = await http('PUT', `${url}/kv/k`, 'x'.repeat(70_000));
    expect(tooLong.status).toBe(400);
    expect(String(tooLong.body['message'])).toMatch(/up to 65536 characters/);
    await stillServing();
  });
});

describe('the command line', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [...nodeArgs(CLI_PATH), ...args], { encoding: 'utf8', timeout: 20_000 });

  test('missing or malformed flags exit with status 2 and say what is wrong', () => {
    const missing = run('serve', '--id', '0', '--http', '127.0.0.1:1', '--dir', '/tmp/none', '--secret', 's');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/--peers is required/);
    const badAddress = run('serve', '--id', '0', '--peers', 'nowhere', '--http', '127.0.0.1:1', '--dir', '/tmp/none', '--secret', 's');
    expect(badAddress.status).toBe(2);
    expect(badAddress.stderr).toMatch(/--peers: expected HOST:PORT, got "nowhere"/);
    const unknown = run('cluster', '--dir', '/tmp/none', '--replica', '3');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/--replica/);
    const noSecret = run('serve', '--id', '0', '--peers', '127.0.0.1:1', '--http', '127.0.0.1:2', '--dir', '/tmp/none');
    expect(noSecret.status).toBe(2);
    expect(noSecret.stderr).toMatch(/cluster secret is required/);
    const help = run('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/vsr-kv cluster --dir DIR/);
  });

  test('a port in use is a clear error, not a crash trace', () => {
    const [host, port] = cluster.replicas[0]!.peer.split(':');
    const taken = run('serve', '--id', '0', '--peers', `${host}:${port}`, '--http', '127.0.0.1:0', '--dir', `${cluster.directory}/other`, '--secret', 's', '--init');
    expect(taken.status).toBe(1);
    expect(taken.stderr).toMatch(new RegExp(`cannot listen for peers on ${host}:${port}: .*EADDRINUSE`));
  });
});
