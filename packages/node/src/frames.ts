/**
 * Length-prefixed frames on a byte stream: [length u32 BE][body]. The body
 * is JSON, or, on a peer link authenticated with the shared secret, a MAC
 * followed by JSON (see peer-auth.ts).
 *
 * Everything read is untrusted. A frame longer than the limit in force is
 * refused from its header, before its body is buffered; JSON nested deeper
 * than the core's `JSON_DEPTH_MAX` is refused before it is parsed (parsing
 * and, later, encoding it would recurse once per level).
 */
import type { Socket } from 'node:net';
import { JSON_DEPTH_MAX, jsonDepthWithin } from '@vsr/core';

export const FRAME_HEADER_BYTES = 4;

export function encodeFrame(payload: unknown): Buffer {
  return frameOf(Buffer.from(JSON.stringify(payload), 'utf8'));
}

/** Prefixes a body with its length. */
export function frameOf(...parts: Buffer[]): Buffer {
  let length = 0;
  for (const part of parts) length += part.length;
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt32BE(length, 0);
  return Buffer.concat([header, ...parts], FRAME_HEADER_BYTES + length);
}

/**
 * A short, safe description of an untrusted value for a log line or a refusal: never calls the
 * value's own methods (`String(x)` runs an attacker's `toString`, and throws on one that is not a
 * function), and never echoes more than a few characters.
 */
export function describeUntrusted(value: unknown): string {
  switch (typeof value) {
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
    case 'undefined':
      return 'nothing';
    default:
      return value === null ? 'null' : Array.isArray(value) ? 'an array' : `a${typeof value === 'object' ? 'n object' : ` ${typeof value}`}`;
  }
}

/** Why a frame body was refused: a stable reason (a metric label) and words. */
export interface FrameRefusal {
  readonly reason: string;
  readonly detail: string;
}

/** Parses a JSON frame body after checking its depth; a refusal names what was wrong. */
export function parseFrameBody(body: Buffer): { ok: true; payload: unknown } | { ok: false; refusal: FrameRefusal } {
  if (!jsonDepthWithin(body, JSON_DEPTH_MAX)) {
    return { ok: false, refusal: { reason: 'too-deep', detail: `a frame nested more than ${JSON_DEPTH_MAX} levels deep` } };
  }
  try {
    return { ok: true, payload: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false, refusal: { reason: 'not-json', detail: 'a frame that is not JSON' } };
  }
}

/**
 * Splits a socket's byte stream into frame bodies; calls `refuse` (once, then
 * nothing more is read) for a frame over the limit in force. `frameBytesMax`
 * may change as a connection moves through its handshake.
 */
export function readFrameBodies(
  socket: Socket,
  frameBytesMax: number | (() => number),
  refuse: (refusal: FrameRefusal) => void,
  onBody: (body: Buffer) => void,
): void {
  const limit = typeof frameBytesMax === 'number' ? () => frameBytesMax : frameBytesMax;
  let buffered: Buffer = Buffer.alloc(0);
  let refused = false;
  socket.on('data', (chunk: Buffer) => {
    if (refused || socket.destroyed) return;
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (!refused && !socket.destroyed && buffered.length >= FRAME_HEADER_BYTES) {
      const length = buffered.readUInt32BE(0);
      const bytesMax = limit();
      if (length > bytesMax) {
        refused = true;
        refuse({ reason: 'frame-too-large', detail: `a frame of ${length} bytes, over the ${bytesMax}-byte limit` });
        return;
      }
      if (buffered.length < FRAME_HEADER_BYTES + length) return;
      const body = buffered.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
      buffered = buffered.subarray(FRAME_HEADER_BYTES + length);
      try {
        onBody(body);
      } catch (error) {
        // A handler that throws on some input is a bug, but one frame must never stop the process:
        // the connection that sent it is closed, with the error as its reason.
        refused = true;
        refuse({ reason: 'handler-error', detail: `a frame its handler could not take (${error instanceof Error ? error.message : 'a throw'}); this is a bug` });
        return;
      }
    }
  });
}

/** Splits a byte stream into JSON frames; calls `refuse` (once) on anything malformed. */
export function readFrames(
  socket: Socket,
  frameBytesMax: number | (() => number),
  refuse: (reason: string) => void,
  onFrame: (payload: unknown) => void,
): void {
  let refused = false;
  const fail = (refusal: FrameRefusal) => {
    if (refused) return;
    refused = true;
    refuse(refusal.detail);
  };
  readFrameBodies(socket, frameBytesMax, fail, (body) => {
    if (refused) return;
    const parsed = parseFrameBody(body);
    if (!parsed.ok) return fail(parsed.refusal);
    onFrame(parsed.payload);
  });
}

/**
 * Writes frames to one socket, gathering those written during one turn of the event loop into
 * a single `socket.write` (flushed from `setImmediate`, so after every I/O callback of the turn).
 * A replica releases many messages at once (all the sends a flush held back), and each write
 * costs a system call, and with TLS a record and its encryption: one write per peer per turn
 * instead of one per message. Every write to the socket after its handshake must go through
 * the writer, or frames would be reordered (and a per-frame MAC sequence broken).
 */
export class FrameWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly socket: Socket) {}

  /** Bytes written but not yet sent: the socket's own backlog and what waits for this turn's end. */
  get backlogBytes(): number {
    return this.socket.writableLength + this.pendingBytes;
  }

  write(frame: Buffer): void {
    if (this.pending.length === 0) setImmediate(() => this.flush());
    this.pending.push(frame);
    this.pendingBytes += frame.length;
  }

  /** Sends what is pending now (before a last frame written directly, or a close). */
  flush(): void {
    if (this.pending.length === 0) return;
    const frames = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.socket.writable) return; // Closed, or ended after a last frame: nothing more goes out.
    this.socket.write(frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames, bytes));
  }
}
