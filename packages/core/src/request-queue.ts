/**
 * The primary's queue of client requests waiting for room in the pipeline:
 * a persistent list wrapped in a class, so a step never copies it.
 */
import { List } from 'immutable';
import type { ClientRequest } from './messages.js';

export interface QueuedRequest {
  readonly request: ClientRequest;
  readonly receivedAtMs: number;
}

export class RequestQueue {
  static readonly EMPTY = new RequestQueue(List<QueuedRequest>());

  private constructor(private readonly items: List<QueuedRequest>) {
    Object.freeze(this);
  }

  get size(): number {
    return this.items.size;
  }

  push(item: QueuedRequest): RequestQueue {
    return new RequestQueue(this.items.push(item));
  }

  /** Removes up to `count` requests from the front: [taken, rest]. */
  take(count: number): [QueuedRequest[], RequestQueue] {
    return [this.items.take(count).toArray(), new RequestQueue(this.items.skip(count))];
  }

  toJSON(): QueuedRequest[] {
    return this.items.toArray();
  }
}
