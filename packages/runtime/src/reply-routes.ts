/**
 * Reply routing for a runtime's clients, shared by Node and the browser: the core names the
 * client a reply is for, and the runtime hands it to whoever is waiting on that request.
 */
import { inputKeyOf, repliedInput, type InputKey, type Reply } from '@vsr/core';

/**
 * Where each reply goes: to every caller waiting on that request (or read) of that client, the
 * channels it came in on and the `requestAs` callers alike, so a request resent over two
 * connections is answered on both. Each caller gets one reply (the first for its request: a
 * result, a refusal or a redirect). Bounded: `routesMax` clients (the oldest goes first), a few
 * requests each, a few callers each.
 */
export class ReplyRoutes {
  /** clientId → request key (`q<number>`, `r<read number>`, `?` when unreadable) → callers. */
  private readonly routes = new Map<string, Map<string, Array<(reply: Reply) => void>>>();

  constructor(private readonly routesMax: number) {}

  /** `respond` gets the reply to this raw request of `clientId`. */
  route(clientId: string, request: unknown, respond: (reply: Reply) => void): void {
    this.add(clientId, routeKey(inputKeyOf(request)), respond);
  }

  /** `resolve` gets the reply to `clientId#requestNumber`. */
  await(clientId: string, requestNumber: number, resolve: (reply: Reply) => void): void {
    this.add(clientId, `q${requestNumber}`, resolve);
  }

  /** `resolve` stops waiting (its caller timed out); the others still wait. */
  abandon(clientId: string, requestNumber: number, resolve: (reply: Reply) => void): void {
    const keys = this.routes.get(clientId);
    const key = `q${requestNumber}`;
    const callers = keys?.get(key)?.filter((candidate) => candidate !== resolve) ?? [];
    if (callers.length > 0) keys?.set(key, callers);
    else keys?.delete(key);
    if (keys?.size === 0) this.routes.delete(clientId);
  }

  deliver(clientId: string, reply: Reply): void {
    const keys = this.routes.get(clientId);
    if (keys === undefined) return;
    const key = routeKey(repliedInput(reply));
    const callers = keys.get(key);
    if (callers === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.routes.delete(clientId);
    for (const respond of callers) respond(reply);
  }

  private add(clientId: string, key: string, respond: (reply: Reply) => void): void {
    const keys = this.routes.get(clientId) ?? new Map<string, Array<(reply: Reply) => void>>();
    // Most recently used last, so the first is the one to evict.
    this.routes.delete(clientId);
    this.routes.set(clientId, keys);
    const callers = [...(keys.get(key) ?? []), respond].slice(-ROUTE_CALLERS_MAX);
    keys.delete(key);
    keys.set(key, callers);
    if (keys.size > ROUTE_REQUESTS_MAX) keys.delete(keys.keys().next().value ?? key);
    if (this.routes.size > this.routesMax) this.routes.delete(this.routes.keys().next().value ?? clientId);
  }
}

/** Requests (or reads) of one client with callers waiting; a well-behaved client has one. */
const ROUTE_REQUESTS_MAX = 8;
/** Callers waiting on one request: resent over this many connections at most. */
const ROUTE_CALLERS_MAX = 16;

/** A map key for a request or a read of one client: `q<number>`, `r<number>`, or `?` when unreadable (as the core answers it). */
function routeKey(key: InputKey): string {
  return key.number === null ? '?' : `${key.kind === 'read' ? 'r' : 'q'}${key.number}`;
}
