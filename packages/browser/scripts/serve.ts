/**
 * A static file server for the demo page and the Chromium tests: it serves
 * the built page and worker bundle from one folder (out/browser by default)
 * on 127.0.0.1 only.
 *
 * It answers GET and HEAD for files inside the root and nothing else: a path
 * that decodes to something outside the root (`..`, an encoded `%2e%2e`, a
 * backslash, a NUL byte) is refused with 400/404 before the file system is
 * touched. Responses are never cached, so a rebuilt bundle is what the next
 * reload gets. No cross-origin isolation headers: the page uses no
 * SharedArrayBuffer, and they would only make embedding it harder.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, resolve, sep } from 'node:path';

/** The types of what the build writes, and a few more a page might hold. */
export const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

export interface StaticServerOptions {
  /** The folder to serve. */
  readonly rootDir: string;
  /** 0 (the default) picks a free port: what tests use. */
  readonly port?: number;
}

export interface StaticServer {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The file a request path names inside `rootDir`, or why it names none. */
export function resolveRequestPath(rootDir: string, rawUrl: string): { path: string } | { status: 400 | 404; reason: string } {
  const pathname = rawUrl.split(/[?#]/, 1)[0] ?? '/';
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return { status: 400, reason: 'malformed percent-encoding' };
  }
  if (!decoded.startsWith('/')) return { status: 400, reason: 'the path must start with /' };
  if (decoded.includes('\0') || decoded.includes('\\')) return { status: 400, reason: 'NUL or backslash in the path' };
  if (decoded.split('/').some((part) => part === '..')) return { status: 404, reason: 'the path leaves the root' };
  const root = resolve(rootDir);
  const path = resolve(root, `.${decoded.endsWith('/') ? `${decoded}index.html` : decoded}`);
  // Belt and braces: whatever the checks above missed, nothing outside the root is served.
  if (path !== root && !path.startsWith(root + sep)) return { status: 404, reason: 'the path leaves the root' };
  return { path };
}

function refuse(response: ServerResponse, status: number, reason: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  response.end(`${status}: ${reason}\n`);
}

async function answer(rootDir: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return refuse(response, 405, 'only GET and HEAD');
  const target = resolveRequestPath(rootDir, request.url ?? '/');
  if (!('path' in target)) return refuse(response, target.status, target.reason);
  const info = await stat(target.path).catch(() => null);
  if (info === null || !info.isFile()) return refuse(response, 404, 'no such file');
  response.writeHead(200, {
    'content-type': MIME_TYPES[extname(target.path).toLowerCase()] ?? 'application/octet-stream',
    'content-length': info.size,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  if (request.method === 'HEAD') return void response.end();
  createReadStream(target.path)
    .on('error', () => response.destroy())
    .pipe(response);
}

/** Serves `rootDir` on 127.0.0.1; resolves once it listens. */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const server: Server = createServer((request, response) => {
    answer(options.rootDir, request, response).catch(() => {
      if (!response.headersSent) refuse(response, 500, 'could not read the file');
      else response.destroy();
    });
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => done());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
