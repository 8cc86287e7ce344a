/**
 * An in-process transport for tests and embedders: replicas in one process
 * exchange messages asynchronously (a macrotask later, so no step runs
 * inside another), as JSON copies, and links can be cut.
 */
import type { Message } from '@vsr/core';
import type { ClientRequestHandler, Transport } from './transport.js';

const copy = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

export class MemoryNetwork {
  private readonly receivers = new Map<number, (message: unknown) => void>();
  private readonly clientHandlers = new Map<number, ClientRequestHandler>();
  private readonly cut = new Set<string>();

  transport(replica: number): Transport {
    return {
      send: (to: number, message: Message) => {
        if (this.cut.has(`${replica}>${to}`)) return;
        const sent = copy(message);
        setImmediate(() => {
          if (!this.cut.has(`${replica}>${to}`)) this.receivers.get(to)?.(sent);
        });
      },
      listen: (deliver) => {
        this.receivers.set(replica, deliver);
      },
      serveClients: (handler) => {
        this.clientHandlers.set(replica, handler);
      },
      // Client requests from this process to replica `to`, and the replies back, cross the same links.
      clientEndpoint: (to, onReply) => ({
        send: (request) => {
          if (this.cut.has(`${replica}>${to}`)) return;
          const sent = copy(request);
          setImmediate(() =>
            this.clientHandlers.get(to)?.(sent, (reply) => {
              if (this.cut.has(`${to}>${replica}`)) return;
              const answer = copy(reply);
              setImmediate(() => onReply(answer));
            }),
          );
        },
        close: () => {},
      }),
      close: () => {
        this.receivers.delete(replica);
        this.clientHandlers.delete(replica);
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
