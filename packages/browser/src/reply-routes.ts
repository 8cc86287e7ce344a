/**
 * Where each reply goes: the channel its client's latest request came in on.
 * A client has one request outstanding, so one route each; bounded like the
 * client table (the oldest route goes first), so a stream of client ids
 * cannot grow it without end.
 */
import type { Reply } from '@vsr/core';

export class ReplyRoutes {
  private readonly routes = new Map<string, (reply: Reply) => void>();

  constructor(private readonly routesMax: number) {}

  /** The client's next reply goes to `respond`. */
  route(clientId: string, respond: (reply: Reply) => void): void {
    this.routes.delete(clientId);
    this.routes.set(clientId, respond);
    if (this.routes.size > this.routesMax) {
      const oldest = this.routes.keys().next();
      if (oldest.done !== true) this.routes.delete(oldest.value);
    }
  }

  deliver(clientId: string, reply: Reply): void {
    const route = this.routes.get(clientId);
    if (route === undefined) return;
    this.routes.delete(clientId);
    route(reply);
  }
}
