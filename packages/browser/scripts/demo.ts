/**
 * `npm run demo:browser`: builds the page and the worker bundle, serves them
 * on 127.0.0.1 and prints the URL; runs until Ctrl-C.
 *
 *   --port N   listen on N (default 8013; 0 picks a free port)
 */
import { buildDemo } from './build-demo.js';
import { startStaticServer } from './serve.js';

const DEFAULT_PORT = 8013;

function portFromArgs(args: readonly string[]): number {
  const at = args.indexOf('--port');
  if (at < 0) return Number(process.env.PORT ?? DEFAULT_PORT);
  const port = Number(args[at + 1]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: expected 0..65535, got ${args[at + 1]}`);
  return port;
}

async function main(): Promise<void> {
  const port = portFromArgs(process.argv.slice(2));
  const rootDir = await buildDemo();
  const server = await startStaticServer({ rootDir, port });
  console.log(`VSR browser demo: ${server.url}`);
  console.log(`  one replica per tab: ${server.url}?mode=tabs (open it in three tabs)`);
  console.log('  Ctrl-C to stop');
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
