/**
 * What travels on MessagePorts and BroadcastChannels: each frame is one JSON
 * string, `{ kind, from, to, … }`.
 *
 * JSON text rather than structured-clone objects, because what arrives is
 * untrusted (any script of the origin can post on a BroadcastChannel): a
 * string's size is known before anything is parsed, its depth is checked
 * with the core's `jsonDepthWithin` before `JSON.parse` recurses, and it can
 * hold nothing but JSON data (no Maps, Dates, cycles or getters, which a
 * structured clone would carry into the codecs). It is also the wire format
 * of the Node transports, and costs about what a structured clone does.
 */
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { ClientId, JSON_DEPTH_MAX, Message, NonNegativeInteger, decodeWith, jsonDepthWithin } from '@vsr/core';
import type { Refusal } from './transport.js';

/** The largest peer frame, in UTF-8 bytes: a NewState or StartView can carry a whole checkpoint. */
export const FRAME_BYTES_MAX = 64 * 1024 * 1024;
/** The largest client frame (the core bounds a request at `requestBytesMax`, 1 MiB by default). */
export const CLIENT_FRAME_BYTES_MAX = 2 * 1024 * 1024;
/** The largest reply frame a client accepts on a port of its own (a result can be large: a read of a big value). */
export const REPLY_FRAME_BYTES_MAX = 16 * 1024 * 1024;

/** Who a client link is on the channel: replies are addressed to it. */
const LinkId = ClientId;

export const Frame = t.union([
  /** A protocol message from replica `from` to replica `to`; `id` numbers the sender's frames (for traces). */
  t.type({ kind: t.literal('peer'), from: NonNegativeInteger, to: NonNegativeInteger, id: NonNegativeInteger, message: t.unknown }),
  /** A client request from client link `from` to replica `to`. */
  t.type({ kind: t.literal('request'), from: LinkId, to: NonNegativeInteger, request: t.unknown }),
  /** A reply from replica `from` to client link `to`. */
  t.type({ kind: t.literal('reply'), from: NonNegativeInteger, to: LinkId, reply: t.unknown }),
]);
export type Frame = t.TypeOf<typeof Frame>;

export function encodeFrame(frame: Frame): string {
  return JSON.stringify(frame);
}

const encoder = new TextEncoder();

/**
 * Reads one received frame: refuses, with a reason, anything that is not a
 * string, is over `bytesMax` UTF-8 bytes, nests deeper than the core's
 * `JSON_DEPTH_MAX`, is not JSON or is not a frame. Never throws.
 */
export function decodeFrame(data: unknown, bytesMax: number = FRAME_BYTES_MAX): { ok: true; frame: Frame; bytes: number } | { ok: false; refusal: Refusal } {
  if (typeof data !== 'string') return refuse('not-a-string', `a ${data === null ? 'null' : typeof data} where a JSON string frame was expected`);
  // A string's UTF-8 form is at least as long as the string: the cheap test first.
  if (data.length > bytesMax) return refuse('frame-too-large', `a frame of at least ${data.length} bytes, over the ${bytesMax}-byte limit`);
  const bytes = encoder.encode(data);
  if (bytes.length > bytesMax) return refuse('frame-too-large', `a frame of ${bytes.length} bytes, over the ${bytesMax}-byte limit`);
  if (!jsonDepthWithin(bytes, JSON_DEPTH_MAX)) return refuse('too-deep', `a frame nested more than ${JSON_DEPTH_MAX} levels deep`);
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return refuse('not-json', 'a frame that is not JSON');
  }
  const decoded = decodeWith(Frame, json);
  if (isLeft(decoded)) return refuse('bad-frame', `a frame that does not decode (${decoded.left})`);
  return { ok: true, frame: decoded.right, bytes: bytes.length };
}

export type PeerFrame = Extract<Frame, { kind: 'peer' }>;

/**
 * The protocol message a peer frame carries, decoded with the core's codec:
 * refused if it is addressed to another replica, comes from another sender
 * than the channel's (`expectedFrom`, when the channel knows it), does not
 * decode, or names another sender than the frame.
 */
export function readPeerMessage(frame: PeerFrame, replicaId: number, expectedFrom?: number): { ok: true; message: Message } | { ok: false; refusal: Refusal } {
  if (frame.to !== replicaId) return refuse('wrong-recipient', `a frame for replica ${frame.to} reached replica ${replicaId}`);
  if (expectedFrom !== undefined && frame.from !== expectedFrom) return refuse('wrong-sender', `a frame claiming replica ${frame.from} on the channel of replica ${expectedFrom}`);
  const decoded = decodeWith(Message, frame.message, 'message');
  if (isLeft(decoded)) return refuse('bad-message', `a message from replica ${frame.from} that does not decode (${decoded.left})`);
  if (decoded.right.replica !== frame.from) return refuse('wrong-sender', `a message naming replica ${decoded.right.replica} in a frame from replica ${frame.from}`);
  return { ok: true, message: decoded.right };
}

function refuse(reason: string, detail: string): { ok: false; refusal: Refusal } {
  return { ok: false, refusal: { reason, detail } };
}
