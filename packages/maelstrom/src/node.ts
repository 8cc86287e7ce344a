/**
 * A Maelstrom node for the lin-kv workload: one `@vsr/core` replica of `@vsr/kv`, speaking
 * Maelstrom's JSON lines. The process's stdin and stdout are the caller's (`vsr-maelstrom.ts`
 * wires them); this class reads lines and writes messages, so tests can drive it in process.
 *
 * Messages:
 * - `init {node_id, node_ids}` → `init_ok`: the replica's id is `node_id`'s index in `node_ids`.
 *   Before it, a client is refused with error 11 and other traffic is logged and dropped.
 * - `read {key}`, `write {key, value}`, `cas {key, from, to}` from a client → run through one of
 *   that client's VSR sessions (sessions.ts), answered `read_ok {value}`, `write_ok`, `cas_ok`
 *   or an error (codes.ts; the mapping is in docs/maelstrom.md).
 * - Between nodes: `vsr {msg}` carries a protocol message, `vsr_request {request}` a session's
 *   request to another node's replica, `vsr_reply {reply}` that replica's answer. Each is decoded
 *   with the core's codecs; what fails is logged on stderr and dropped.
 */
import { decodeWith, Message, REPLICA_COUNT_MAX, Reply, type ClientInput, type Timeouts } from '@vsr/core';
import { kvMachine, type KvOperation, type KvResult, type KvState } from '@vsr/kv';
import { ErrorCode, errorBody } from './codes.js';
import { isLinKvKind, replyOf, toKvOperation, type LinKvKind, type ReplyBody } from './kv-ops.js';
import type { NodeLog } from './log.js';
import { ReplicaHost } from './replica-host.js';
import { ClientSessions, DEFAULT_SESSION_SETTINGS, NodeLink, type SessionOutcome, type SessionSettings } from './sessions.js';
import { describeValue, isName, parseLine, type Body, type Envelope } from './wire.js';

export interface NodeSettings extends SessionSettings {
  /** Reads without the log (`confirmed`: the primary confirms its view with a quorum) or through it (`log`). */
  readonly reads: 'confirmed' | 'log';
  /** Replica timeouts for the core's configuration (the core's defaults otherwise). */
  readonly timeouts: Partial<Timeouts>;
}

export const DEFAULT_NODE_SETTINGS: NodeSettings = Object.freeze({ ...DEFAULT_SESSION_SETTINGS, reads: 'confirmed', timeouts: {} });

/** A message the node writes: to stdout, one line each. */
export interface OutMessage {
  readonly src: string;
  readonly dest: string;
  readonly body: Record<string, unknown>;
}

export interface MaelstromNodeOptions {
  readonly write: (message: OutMessage) => void;
  readonly log: NodeLog;
  /** The replica stopped on a bug: the process should end. */
  readonly onFatal: (error: Error) => void;
  /** Makes this process's client ids differ from any earlier process's (a few random characters). */
  readonly processNonce: string;
  readonly settings?: Partial<NodeSettings>;
}

interface Running {
  readonly nodeId: string;
  readonly nodeIds: readonly string[];
  readonly host: ReplicaHost<KvState, KvOperation, KvResult>;
  readonly link: NodeLink;
  readonly sessions: ClientSessions;
}

const PEER_TYPES = new Set(['vsr', 'vsr_request', 'vsr_reply']);

export class MaelstromNode {
  private running: Running | null = null;
  /** The node id init named, from the start of the replica on (its first log lines carry it). */
  private named: string | null = null;
  private messageCounter = 0;
  private readonly settings: NodeSettings;

  constructor(private readonly options: MaelstromNodeOptions) {
    this.settings = { ...DEFAULT_NODE_SETTINGS, ...options.settings };
  }

  /** This node's id once initialised. */
  get nodeId(): string | null {
    return this.running?.nodeId ?? this.named;
  }

  /** The replica, once initialised (for tests and tools). */
  get replica(): ReplicaHost<KvState, KvOperation, KvResult> | null {
    return this.running?.host ?? null;
  }

  /** One line of stdin. Never throws on its content. */
  handleLine(line: string): void {
    try {
      this.take(line);
    } catch (error) {
      // A handler that throws on some input is a bug, but one line must never stop the node.
      this.options.log.refuse(`a line its handler could not take (${error instanceof Error ? error.message : String(error)}); this is a bug`);
    }
  }

  private take(line: string): void {
    if (line.trim().length === 0) return;
    const parsed = parseLine(line);
    if (parsed.ok) return this.handle(parsed.envelope);
    const { reason, sender } = parsed.refusal;
    this.options.log.refuse(reason);
    if (sender !== undefined && !this.isNode(sender.src)) this.reply(sender.src, sender.msgId, errorBody(ErrorCode.malformedRequest, reason));
  }

  close(): void {
    this.running?.sessions.close();
    this.running?.link.close();
    this.running?.host.stop();
  }

  private handle(envelope: Envelope): void {
    const { src, dest, body } = envelope;
    const running = this.running;
    if (running !== null && dest !== running.nodeId) return this.options.log.refuse(`a ${body.type} from ${src} for ${dest}, not this node (${running.nodeId})`);
    if (body.type === 'init') return this.init(envelope);
    if (running === null) {
      if (PEER_TYPES.has(body.type) || body.msg_id === undefined) return this.options.log.refuse(`a ${body.type} from ${src} before init`);
      return this.reply(src, body.msg_id, errorBody(ErrorCode.temporarilyUnavailable, 'this node is not initialised yet'));
    }
    if (PEER_TYPES.has(body.type)) return this.fromPeer(running, envelope);
    if (body.msg_id === undefined) return this.options.log.refuse(`a ${body.type} from ${src} without a msg_id (nothing to answer)`);
    if (isLinKvKind(body.type)) return this.serveClient(running, envelope, body.type, body.msg_id);
    const text = `message type ${describeValue(body.type)} is not supported (lin-kv: read, write, cas)`;
    this.options.log.refuse(`a ${body.type} from ${src}: ${text}`);
    this.reply(src, body.msg_id, errorBody(ErrorCode.notSupported, text));
  }

  private init({ src, body }: Envelope): void {
    const msgId = body.msg_id;
    const members = readMembers(body);
    if (typeof members === 'string') {
      this.options.log.refuse(`init from ${src}: ${members}`);
      if (msgId !== undefined) this.reply(src, msgId, errorBody(ErrorCode.malformedRequest, members));
      return;
    }
    const running = this.running;
    if (running !== null) {
      const same = running.nodeId === members.nodeId && running.nodeIds.join('\n') === members.nodeIds.join('\n');
      if (msgId === undefined) return;
      return this.reply(src, msgId, same ? { type: 'init_ok' } : errorBody(ErrorCode.malformedRequest, `already initialised as ${running.nodeId} of ${running.nodeIds.join(', ')}`));
    }
    try {
      this.named = members.nodeId;
      this.running = this.start(members.nodeId, members.nodeIds);
    } catch (error) {
      const text = `init: ${error instanceof Error ? error.message : String(error)}`;
      this.named = null;
      this.options.log.refuse(text);
      if (msgId !== undefined) this.reply(src, msgId, errorBody(ErrorCode.malformedRequest, text));
      return;
    }
    this.options.log.info(`initialised as replica ${members.nodeIds.indexOf(members.nodeId)} of ${members.nodeIds.join(', ')}`);
    if (msgId !== undefined) this.reply(src, msgId, { type: 'init_ok' });
  }

  private start(nodeId: string, nodeIds: readonly string[]): Running {
    const replicaId = nodeIds.indexOf(nodeId);
    const toNode = (to: number, body: Record<string, unknown>) => {
      const dest = nodeIds[to];
      if (dest !== undefined && to !== replicaId) this.options.write({ src: nodeId, dest, body });
    };
    const host = new ReplicaHost({
      config: { replicaId, replicaCount: nodeIds.length, timeouts: this.settings.timeouts },
      machine: kvMachine,
      sendPeer: (to, message) => toNode(to, { type: 'vsr', msg: message }),
      log: this.options.log,
      onFatal: (error) => this.fatal(error),
    });
    const submitLocal = (request: ClientInput, respond: (reply: Reply) => void) => host.submit(request, respond);
    const link = new NodeLink(nodeIds.length, replicaId, submitLocal, (to, request) => toNode(to, { type: 'vsr_request', request }));
    const clock = { nowMs: () => Date.now(), setTimeout: (run: () => void, afterMs: number) => setTimeout(run, afterMs), clearTimeout: (handle: unknown) => clearTimeout(handle as ReturnType<typeof setTimeout>) };
    const sessions = new ClientSessions(link, clock, `${nodeId}.${this.options.processNonce}`, () => host.primary, this.settings);
    host.boot();
    return { nodeId, nodeIds, host, link, sessions };
  }

  private fatal(error: Error): void {
    this.options.log.info(`fatal: ${error.message}`);
    this.close();
    this.options.onFatal(error);
  }

  private fromPeer(running: Running, { src, body }: Envelope): void {
    const peerId = running.nodeIds.indexOf(src);
    if (peerId < 0 || src === running.nodeId) return this.options.log.refuse(`a ${body.type} from ${src}, which is not a peer of this node`);
    switch (body.type) {
      case 'vsr': {
        const decoded = decodeWith(Message, body.msg, 'msg');
        if (decoded._tag === 'Left') return this.options.log.refuse(`a vsr message from ${src} that does not decode (${decoded.left})`);
        if (decoded.right.replica !== peerId) return this.options.log.refuse(`a vsr message from ${src} (replica ${peerId}) naming replica ${decoded.right.replica}`);
        return running.host.deliver(decoded.right);
      }
      case 'vsr_request':
        // The core validates the request; its answer, whatever it is, goes back to the sender.
        return running.host.submit(body.request, (reply) => this.options.write({ src: running.nodeId, dest: src, body: { type: 'vsr_reply', reply } }));
      default: {
        const decoded = decodeWith(Reply, body.reply, 'reply');
        if (decoded._tag === 'Left') return this.options.log.refuse(`a vsr_reply from ${src} that does not decode (${decoded.left})`);
        running.link.deliver(decoded.right, peerId); // No session of that id: a late answer to a closed session.
      }
    }
  }

  private serveClient(running: Running, { src, body }: Envelope, kind: LinKvKind, msgId: number): void {
    const parsed = toKvOperation(body as Body & { type: LinKvKind });
    if (!parsed.ok) return this.reply(src, msgId, errorBody(parsed.code, parsed.text));
    const { operation } = parsed.request;
    const viaReadPath = kind === 'read' && this.settings.reads === 'confirmed';
    void running.sessions.run(src, (core) => (viaReadPath ? core.read(operation) : core.request(operation))).then((outcome) => {
      if (this.running === running) this.reply(src, msgId, answerOf(kind, outcome));
    });
  }

  private reply(dest: string, inReplyTo: number, body: ReplyBody): void {
    const src = this.running?.nodeId ?? 'uninitialised';
    this.options.write({ src, dest, body: { ...body, msg_id: ++this.messageCounter, in_reply_to: inReplyTo } });
  }

  private isNode(name: string): boolean {
    return this.running?.nodeIds.includes(name) ?? false;
  }
}

/** `init`'s `node_id` and `node_ids`, checked, or why they cannot be used. */
function readMembers(body: Body): { nodeId: string; nodeIds: readonly string[] } | string {
  const { node_id: nodeId, node_ids: nodeIds } = body;
  if (!isName(nodeId)) return `node_id: expected a name, got ${describeValue(nodeId)}`;
  if (!Array.isArray(nodeIds) || nodeIds.length === 0 || nodeIds.length > REPLICA_COUNT_MAX) return `node_ids: expected a list of 1 to ${REPLICA_COUNT_MAX} names, got ${describeValue(nodeIds)}`;
  const names: string[] = [];
  for (const name of nodeIds as unknown[]) {
    if (!isName(name)) return `node_ids: expected names, got ${describeValue(name)}`;
    if (names.includes(name)) return `node_ids: ${name} is listed twice`;
    names.push(name);
  }
  if (!names.includes(nodeId)) return `node_ids does not list node_id ${nodeId}`;
  return { nodeId, nodeIds: names };
}

/**
 * The reply for an operation's outcome. Definite errors only when the operation did not and
 * will not execute: refused by the cluster, or never sent. A write or cas that got no answer in
 * time may still execute: error 13 (indefinite). A read changes nothing, so a read that got no
 * answer is a definite failure (11), as Maelstrom's own clients treat failed reads.
 */
export function answerOf(kind: LinKvKind, outcome: SessionOutcome): ReplyBody {
  switch (outcome.kind) {
    case 'result':
      return replyOf(kind, outcome.result);
    case 'refused':
      return errorBody(refusalCode(outcome.code), outcome.text);
    case 'unavailable':
      return errorBody(ErrorCode.temporarilyUnavailable, outcome.text);
    case 'timeout':
      return errorBody(kind === 'read' ? ErrorCode.temporarilyUnavailable : ErrorCode.crash, outcome.text);
    case 'failed':
      return kind === 'read' ? errorBody(ErrorCode.temporarilyUnavailable, `${outcome.text}; a read changes nothing`) : errorBody(ErrorCode.crash, `${outcome.text}; the outcome is unknown`);
  }
}

/** The Maelstrom code for a refusal by the cluster (`error` and `read-error` replies: the request did not execute). */
function refusalCode(code: string): ErrorCode {
  switch (code) {
    case 'invalid-request':
    case 'invalid-operation':
    case 'invalid-read':
      return ErrorCode.malformedRequest;
    case 'reads-unsupported':
      return ErrorCode.notSupported;
    case 'not-registered':
    case 'busy':
      return ErrorCode.temporarilyUnavailable;
    default:
      return ErrorCode.crash;
  }
}

