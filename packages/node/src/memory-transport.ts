/**
 * An in-process transport for tests and embedders: replicas in one process
 * exchange messages asynchronously (a macrotask later, so no step runs
 * inside another), as JSON copies, and links can be cut.
 */
import type { Message } from '@vsr/core';
import type { Transport } from './replica.js';

export class MemoryNetwork {
  private readonly receivers = new Map<number, (message: unknown) => void>();
  private readonly cut = new Set<string>();

  transport(replica: number): Transport {
    return {
      send: (to: number, message: Message) => {
        if (this.cut.has(`${replica}>${to}`)) return;
        const copy: unknown = JSON.parse(JSON.stringify(message));
        setImmediate(() => {
          if (!this.cut.has(`${replica}>${to}`)) this.receivers.get(to)?.(copy);
        });
      },
      listen: (deliver) => {
        this.receivers.set(replica, deliver);
      },
      close: () => {
        this.receivers.delete(replica);
      },
    };
  }

  /** Cuts both directions between `replica` and every other. */
  isolate(replica: number, replicaCount: number): void {
    for (let other = 0; other < replicaCount; other++) {
      if (other === replica) continue;
      this.cut.add(`${replica}>${other}`);
      this.cut.add(`${other}>${replica}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }
}
