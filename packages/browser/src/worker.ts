/**
 * The entry of a replica's dedicated Web Worker (bundled to
 * out/browser/worker.js by scripts/build.ts): the page posts it a `start`
 * command with its configuration and MessagePorts (worker-host.ts), and it
 * runs the replica on IndexedDB (worker-runtime.ts). It runs the key-value
 * machine, the one the demo and the tests use.
 */
import { kvMachine } from '@vsr/kv';
import { serveWorker } from './worker-runtime.js';

serveWorker(globalThis, { kv: kvMachine });
