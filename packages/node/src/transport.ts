/**
 * The interfaces between a replica and the ways messages reach it: peers'
 * protocol messages (`Transport`), client requests coming in
 * (`ClientRequestHandler`), and a client's connection to one replica
 * (`ClientEndpoint`). The replica, the client and every transport (TCP, in
 * memory) meet here, so none of them imports another for its types.
 */
import type { ClientInput, Message, Reply } from '@vsr/core';

/**
 * Takes a client request (decoded JSON, not yet validated) and a way to
 * answer that client: the replica calls `respond` with its reply (a result,
 * a redirect to the primary, or an error), now or once the op commits.
 */
export type ClientRequestHandler = (request: unknown, respond: (reply: Reply) => void) => void;

/** One way to reach one replica: best effort, replies arrive through the link's `onReply`. */
export interface ClientEndpoint {
  send(request: ClientInput): void;
  close(): void;
}

/** Carries protocol messages between replicas. Delivery is best effort. */
export interface Transport {
  send(to: number, message: Message): void;
  /** The transport hands every message it receives (decoded JSON, not yet validated) to `deliver`. */
  listen(deliver: (message: unknown) => void): void;
  /** Optional: a transport that also carries client requests hands them to `handler`. */
  serveClients?(handler: ClientRequestHandler): void;
  /** Optional: a way for this process to send client requests to replica `replicaId` (its replies go to `onReply`). */
  clientEndpoint?(replicaId: number, onReply: (reply: unknown) => void): ClientEndpoint | undefined;
  close(): void;
}
