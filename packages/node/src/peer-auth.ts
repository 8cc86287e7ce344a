/**
 * How replicas prove who they are to each other: mutual TLS with a cluster
 * CA, or a shared secret.
 *
 * **Mutual TLS.** Each replica's certificate, signed by the cluster's CA,
 * names its replica id in its subject common name (`vsr-replica-<id>`). The
 * dialer checks that the listener's certificate names the replica it meant
 * to reach; the listener checks that the dialer's certificate names the
 * replica its auth frame claims. TLS gives the link integrity and secrecy.
 *
 * **Shared secret.** A mutual challenge-response bound to both replica ids
 * and both nonces, then a MAC on every frame:
 *
 *   listener → dialer:  hello  {replica: L, nonce: Nl}
 *   dialer → listener:  auth   {replica: D, nonce: Nd, mac: H(secret, dial, L, D, Nl, Nd)}
 *   listener → dialer:  accept {mac: H(secret, accept, L, D, Nl, Nd)}
 *
 * then each frame in either direction is [MAC₁₆][JSON], the MAC being
 * HMAC-SHA256 under a key for that direction of that connection,
 * H(secret, key, direction, L, D, Nl, Nd), over the frame's sequence number
 * and its body. A proof made for one listener does not verify at another
 * (it names L), so relaying a handshake fails; a frame cannot be forged,
 * altered, replayed, reordered or moved to another connection. The dialer
 * sends nothing before the listener has proven it holds the secret too.
 * Frames are not encrypted in this mode: use TLS where secrecy matters.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';

/** Credentials for mutual TLS: PEM text. */
export interface TlsCredentials {
  /** The cluster CA's certificate: the only issuer trusted for peers (and, for clients, for servers). */
  readonly ca: string | Buffer;
  /** This process's certificate and key (a replica's names its id). */
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

export const MAC_BYTES = 16;
const NONCE_BYTES = 16;

/** The subject common name of replica `replicaId`'s certificate. */
export function replicaCommonName(replicaId: number): string {
  return `vsr-replica-${replicaId}`;
}

/** The replica id a certificate names, or null if it names none. */
export function replicaIdOfCertificate(certificate: PeerCertificate | undefined | null): number | null {
  const commonName = certificate?.subject?.CN;
  const text = Array.isArray(commonName) ? undefined : commonName;
  const match = typeof text === 'string' ? /^vsr-replica-(\d{1,3})$/.exec(text) : null;
  return match === null ? null : Number(match[1]);
}

export function freshNonce(): string {
  return randomBytes(NONCE_BYTES).toString('hex');
}

/** The facts one connection's handshake binds: both ids and both nonces. */
export interface HandshakeFacts {
  readonly listenerId: number;
  readonly dialerId: number;
  readonly listenerNonce: string;
  readonly dialerNonce: string;
}

function keyed(secret: string, purpose: string, facts: HandshakeFacts): Buffer {
  const text = [purpose, facts.listenerId, facts.dialerId, facts.listenerNonce, facts.dialerNonce].join('\n');
  return createHmac('sha256', secret).update(text).digest();
}

/** The dialer's proof that it holds the secret, for this listener and this connection. */
export function dialProof(secret: string, facts: HandshakeFacts): string {
  return keyed(secret, 'vsr-dial-v2', facts).toString('hex');
}

/** The listener's proof, sent back in `accept`. */
export function acceptProof(secret: string, facts: HandshakeFacts): string {
  return keyed(secret, 'vsr-accept-v2', facts).toString('hex');
}

/** Compares a proof received (untrusted text) with the expected one, in constant time. */
export function proofMatches(given: unknown, expected: string): boolean {
  if (typeof given !== 'string' || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given, 'utf8'), Buffer.from(expected, 'utf8'));
}

/** Whether a nonce received is one this protocol could have made: hex of the right length. */
export function isNonce(value: unknown): value is string {
  return typeof value === 'string' && value.length === NONCE_BYTES * 2 && /^[0-9a-f]+$/.test(value);
}

/**
 * The MAC on one direction of one connection: frame n carries
 * HMAC(key, n ‖ body), cut to 16 bytes. Sender and receiver count frames,
 * so the number itself never travels.
 */
export class FrameMac {
  private sequence = 0n;
  private readonly key: Buffer;

  constructor(secret: string, direction: 'dialer-to-listener' | 'listener-to-dialer', facts: HandshakeFacts) {
    this.key = keyed(secret, `vsr-frame-key-v2 ${direction}`, facts);
  }

  private next(body: Buffer): Buffer {
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(this.sequence++, 0);
    return createHmac('sha256', this.key).update(counter).update(body).digest().subarray(0, MAC_BYTES);
  }

  /** The MAC for the next frame sent. */
  sign(body: Buffer): Buffer {
    return this.next(body);
  }

  /** Checks the next frame received ([MAC][body]); returns its body, or null if the MAC is wrong. */
  open(frame: Buffer): Buffer | null {
    if (frame.length < MAC_BYTES) return null;
    const body = frame.subarray(MAC_BYTES);
    const expected = this.next(body);
    return timingSafeEqual(frame.subarray(0, MAC_BYTES), expected) ? body : null;
  }
}
