/**
 * `BrowserVsrClient`: the client side of VR (VR Revisited §4.1 steps 1 and
 * 6), with the semantics of the Node `VsrClient`: one request outstanding at
 * a time, numbered 1, 2, … after registering (request 0); a request is resent
 * with the *same* number until a replica answers it, so the cluster's client
 * table executes it at most once; any replica is an entry point (a backup
 * redirects to its view's primary; a replica silent for `attemptTimeoutMs`
 * is passed over for the next); after `timeoutMs` the request fails with a
 * `VsrTimeoutError` saying its outcome is unknown. A fresh client id per
 * client object, so per page load (`crypto.randomUUID`); if the cluster
 * evicted the session (`not-registered`: the request did not execute), it
 * takes a fresh id, registers and sends the operation again.
 */
import { ClientCore, type ClientClock } from '@vsr/runtime';
import type { ClientLink } from './client-link.js';

export { PortClientLink, BroadcastClientLink, type ClientLink } from './client-link.js';

export { VsrTimeoutError, VsrRequestError } from '@vsr/runtime';

export interface BrowserVsrClientOptions {
  readonly link: ClientLink;
  /** Defaults to a fresh random id. */
  readonly clientId?: string;
  /** How long one request may take in all, retries included (default 10 s). */
  readonly timeoutMs?: number;
  /** How long to wait on one replica before trying the next (default 1 s). */
  readonly attemptTimeoutMs?: number;
  /** The replica to try first (default 0). */
  readonly primaryGuess?: number;
}

/** A fresh id per client: 122 random bits, so no two page loads share a session. */
export function freshClientId(): string {
  return `c-${crypto.randomUUID()}`;
}

/** The browser's timers and clock for the client. */
const BROWSER_CLOCK: ClientClock = {
  nowMs: () => Date.now(),
  setTimeout: (run, afterMs) => setTimeout(run, afterMs),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout> | undefined),
};

/** The core's `ClientCore` over a page's `ClientLink` (MessagePorts to workers, or a BroadcastChannel). */
export class BrowserVsrClient extends ClientCore {
  constructor(options: BrowserVsrClientOptions) {
    super({ ...options, clock: BROWSER_CLOCK, freshClientId, name: 'BrowserVsrClient' });
  }
}
