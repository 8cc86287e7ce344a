/**
 * The interfaces between a replica and its channels, shaped like the Node
 * runtime's (packages/node/src/transport.ts): peers' protocol messages
 * (`BrowserTransport`), client requests coming in (`ClientRequestHandler`),
 * and refused input (`Refusal`). The runtime and the transports meet here.
 */
import type { Message, Reply } from '@vsr/core';

/**
 * Takes a client request (decoded JSON, not yet validated: the core does
 * that) and a way to answer that client, now or once the op commits.
 */
export type ClientRequestHandler = (request: unknown, respond: (reply: Reply) => void) => void;

/** Why a transport refused what it received: a stable reason (a counter's label) and words. */
export interface Refusal {
  readonly reason: string;
  readonly detail: string;
}

/** Carries protocol messages between replicas. Delivery is best effort. */
export interface BrowserTransport {
  /** Sends best effort; returns the frame's id, unique per sender (traces pair a send with its delivery by it). */
  send(to: number, message: Message): number;
  /**
   * Every message received, decoded with the core's codec and bounded in size
   * and depth; what fails is refused (`onRefusal`) and never delivered. The
   * reducer still validates what it gets.
   */
  listen(deliver: (message: Message, frameId: number) => void, onRefusal: (refusal: Refusal) => void): void;
  /** Client requests that reach this replica over the transport's channels go to `handler`. */
  serveClients?(handler: ClientRequestHandler): void;
  close(): void;
}
