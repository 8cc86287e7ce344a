/**
 * @vsr/maelstrom: a node for Jepsen Maelstrom's lin-kv workload (`vsr-maelstrom`), one
 * `@vsr/core` replica of `@vsr/kv` per process on stdin and stdout, and a harness that runs
 * nodes behind a network of its own with partitions and checks the history (docs/maelstrom.md).
 */
export { MaelstromNode, answerOf, DEFAULT_NODE_SETTINGS, type MaelstromNodeOptions, type NodeSettings, type OutMessage } from './node.js';
export { ReplicaHost, MemoryStore, type ReplicaHostOptions } from './replica-host.js';
export { ClientSessions, NodeLink, DEFAULT_SESSION_SETTINGS, type SessionOutcome, type SessionSettings } from './sessions.js';
export { ErrorCode, errorBody, isDefinite } from './codes.js';
export { canonicalJson, replyOf, toKvOperation, isLinKvKind, type LinKvKind, type LinKvOperation, type ReplyBody } from './kv-ops.js';
export { parseLine, readEnvelope, LINE_CHARS_MAX, NAME_CHARS_MAX, type Body, type Envelope, type ParsedLine } from './wire.js';
export { LineLog, type NodeLog } from './log.js';
export { parseArgs, USAGE } from './cli.js';
