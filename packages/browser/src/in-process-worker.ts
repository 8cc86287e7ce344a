/**
 * A `WorkerLike` that runs the worker runtime on this thread, over a
 * MessageChannel, with the same protocol a real worker speaks: for tests in
 * Node (which has no Web Workers), and for pages that cannot start module
 * workers. `terminate` crashes the replica as a terminated worker would: no
 * flush, transactions under way aborted.
 */
import type { WorkerLike } from './worker-host.js';
import { serveWorker, type MachineRegistry, type WorkerScope } from './worker-runtime.js';

export function inProcessWorker(machines: MachineRegistry, options: { readonly indexedDB?: IDBFactory } = {}): WorkerLike {
  const channel = new MessageChannel();
  const page = channel.port1;
  const inside = channel.port2;
  const scope: WorkerScope = {
    postMessage: (event) => inside.postMessage(event),
    addEventListener: (type, listener) => {
      inside.addEventListener(type, listener);
      inside.start();
    },
  };
  const runtime = serveWorker(scope, machines, options);
  return {
    postMessage: (message, transfer) => page.postMessage(message, transfer),
    addEventListener: (type, listener) => {
      page.addEventListener(type, listener);
      page.start();
    },
    terminate: () => {
      void runtime.crash();
      page.close();
      inside.close();
    },
  };
}
