import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { resolveRequestPath, startStaticServer, type StaticServer } from '../../scripts/serve.js';

/** One raw request (no URL normalisation by a client library, so `..` reaches the server as sent). */
function get(server: StaticServer, path: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((done, fail) => {
    const outgoing = request({ host: '127.0.0.1', port: server.port, path, method }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => done({ status: response.statusCode ?? 0, type: response.headers['content-type'], body }));
    });
    outgoing.on('error', fail);
    outgoing.end();
  });
}

describe('the static server', () => {
  let base: string;
  let root: string;
  let server: StaticServer;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'vsr-serve-'));
    root = join(base, 'root');
    mkdirSync(join(root, 'sub'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<p>page</p>');
    writeFileSync(join(root, 'worker.js'), 'self.x = 1;');
    writeFileSync(join(root, 'sub', 'a.css'), 'p{}');
    writeFileSync(join(root, 'blob.bin'), 'x');
    writeFileSync(join(base, 'secret.txt'), 'secret');
    server = await startStaticServer({ rootDir: root });
  });
  afterAll(async () => {
    await server.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('listens on 127.0.0.1 at a free port when given 0', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    expect(server.port).toBeGreaterThan(0);
  });

  test('serves files with their MIME types; / is index.html; the query is ignored', async () => {
    expect(await get(server, '/')).toEqual({ status: 200, type: 'text/html; charset=utf-8', body: '<p>page</p>' });
    expect(await get(server, '/?mode=tabs')).toMatchObject({ status: 200, body: '<p>page</p>' });
    expect(await get(server, '/worker.js')).toEqual({ status: 200, type: 'text/javascript; charset=utf-8', body: 'self.x = 1;' });
    expect(await get(server, '/sub/a.css')).toMatchObject({ status: 200, type: 'text/css; charset=utf-8' });
    expect(await get(server, '/blob.bin')).toMatchObject({ status: 200, type: 'application/octet-stream' });
    expect(await get(server, '/worker.js', 'HEAD')).toMatchObject({ status: 200, body: '' });
  });

  test('refuses to leave the root, however the path is spelled', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/sub/%2E%2E/%2e%2e/secret.txt', '/..%2fsecret.txt', '/..%5csecret.txt', '/%00', '/%zz']) {
      const response = await get(server, path);
      expect([400, 404], path).toContain(response.status);
      expect(response.body, path).not.toContain('secret');
    }
  });

  test('404 for what is missing or a folder; 405 for other methods', async () => {
    expect((await get(server, '/nope.js')).status).toBe(404);
    expect((await get(server, '/sub')).status).toBe(404);
    expect((await get(server, '/worker.js', 'POST')).status).toBe(405);
  });

  test('resolveRequestPath keeps every accepted path inside the root', () => {
    expect(resolveRequestPath('/srv/r', '/a/b.js')).toEqual({ path: '/srv/r/a/b.js' });
    expect(resolveRequestPath('/srv/r', '/a/')).toEqual({ path: '/srv/r/a/index.html' });
    expect(resolveRequestPath('/srv/r', '/a/../../x')).toMatchObject({ status: 404 });
    expect(resolveRequestPath('/srv/r', 'http://evil/x')).toMatchObject({ status: 400 });
  });
});
