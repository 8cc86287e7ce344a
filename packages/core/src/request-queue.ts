/**
 * The primary's queue of client requests waiting for room in the pipeline:
 * a persistent list wrapped in a class, so a step never copies it. It keeps
 * the total size of what it holds, so the primary can bound the queue in
 * bytes as well as in requests.
 */
import { List } from 'immutable';
import type { ClientRequest } from './messages.js';
import { assert } from './assert.js';

export interface QueuedRequest {
  readonly request: ClientRequest;
  readonly receivedAtMs: number;
  /** The request's size as JSON (UTF-8 bytes), measured when it was accepted. */
  readonly bytes: number;
}

export class RequestQueue {
  static readonly EMPTY = new RequestQueue(List<QueuedRequest>(), 0);

  private constructor(
    private readonly items: List<QueuedRequest>,
    /** The sum of the queued requests' `bytes`. */
    readonly bytes: number,
  ) {
    assert(bytes >= 0 && (items.size > 0 || bytes === 0), () => `a queue of ${items.size} requests holds ${bytes} bytes`);
    Object.freeze(this);
  }

  get size(): number {
    return this.items.size;
  }

  push(item: QueuedRequest): RequestQueue {
    return new RequestQueue(this.items.push(item), this.bytes + item.bytes);
  }

  /** Removes up to `count` requests from the front: [taken, rest]. */
  take(count: number): [QueuedRequest[], RequestQueue] {
    const taken = this.items.take(count).toArray();
    let bytes = this.bytes;
    for (const item of taken) bytes -= item.bytes;
    return [taken, new RequestQueue(this.items.skip(count), bytes)];
  }

  toJSON(): QueuedRequest[] {
    return this.items.toArray();
  }
}
