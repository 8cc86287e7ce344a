/**
 * Normal operation (VR Revisited §4.1): the primary orders client requests
 * into ops, backups acknowledge them in order, the primary commits an op once
 * f + 1 replicas (itself included) hold it, and Commit doubles as the
 * heartbeat when the primary is idle.
 */
import { ClientId, decodeWith } from './codec.js';
import { ClientRequest, type Commit, type Prepare, type PrepareOk } from './messages.js';
import type { DraftPrimary, DraftState, StepContext } from './context.js';
import { measureJson } from './json-bounds.js';
import { classifyRequest } from './client-table.js';
import { addVote, hasQuorum, primaryOf } from './quorum.js';
import { executeCommitted } from './execute.js';
import { checkSegment } from './log.js';
import { requestRepair } from './state-transfer.js';
import { assert, defined } from './assert.js';

// ---------------------------------------------------------------------------
// Client requests (§4.1 step 1, and the client table of §4)

/** How deep a client's operation may nest, as JSON. */
export const OPERATION_DEPTH_MAX = 32;
/** The levels a request adds around its operation ({clientId, requestNumber, operation}). */
const REQUEST_ENVELOPE_DEPTH = 1;

export function onClientRequest(s: DraftState, ctx: StepContext, raw: unknown, receivedAtMs: number): void {
  const decoded = decodeWith(ClientRequest, raw, 'request');
  if (decoded._tag === 'Left') {
    const clientId = readClientId(raw);
    ctx.reject(s, decoded.left, 'client-request');
    if (clientId !== null) {
      ctx.reply({ type: 'error', clientId, requestNumber: null, code: 'invalid-request', message: decoded.left });
    }
    return;
  }
  // Only the three fields travel on: anything else a client attached is left here.
  const request: ClientRequest = { clientId: decoded.right.clientId, requestNumber: decoded.right.requestNumber, operation: decoded.right.operation };
  // Bounded before anything else is done with it: a request is held, journaled and sent to
  // every backup, and a deeply nested one would overflow the stack wherever it is encoded.
  const bytes = checkOperation(s, ctx, request);
  if (bytes === null) return;
  ctx.telemetry(s, 'vsr.client.request', { clientId: request.clientId, requestNumber: request.requestNumber });

  if (s.status !== 'normal' || s.primary === null) {
    ctx.reply({
      type: 'redirect',
      clientId: request.clientId,
      requestNumber: request.requestNumber,
      viewNumber: s.viewNumber,
      primary: primaryOf(s.viewNumber, ctx.replicaCount),
    });
    return;
  }
  queueRequest(s, ctx, s.primary, request, receivedAtMs, bytes);
}

/**
 * Checks a request's operation: within the size and depth bounds, null for a
 * registration (request number 0, which runs nothing), and accepted by the
 * application's operation codec otherwise. Returns the request's size, or
 * null after refusing it with a reason to its client.
 */
function checkOperation(s: DraftState, ctx: StepContext, request: ClientRequest): number | null {
  const refuse = (message: string): null => {
    ctx.reject(s, message, 'client-request');
    ctx.reply({ type: 'error', clientId: request.clientId, requestNumber: request.requestNumber, code: 'invalid-operation', message });
    return null;
  };
  const { requestBytesMax } = ctx.config.limits;
  const measured = measureJson(request, requestBytesMax, OPERATION_DEPTH_MAX + REQUEST_ENVELOPE_DEPTH);
  if (!measured.ok) return refuse(`request: ${measured.reason} (limits: ${requestBytesMax} bytes, operations nested ${OPERATION_DEPTH_MAX} deep)`);
  if (request.requestNumber === 0) {
    if (request.operation !== null) return refuse('request.operation: a registration (request number 0) carries no operation: expected null');
    return measured.bytes;
  }
  const operation = decodeWith(ctx.machine.operation, request.operation, 'request.operation');
  if (operation._tag === 'Left') return refuse(operation.left);
  return measured.bytes;
}

/** The primary takes a valid request: answers it from the client table, or queues it for the next op. */
function queueRequest(s: DraftState, ctx: StepContext, primary: DraftPrimary, request: ClientRequest, receivedAtMs: number, bytes: number): void {
  const inFlight = primary.inFlight.get(request.clientId);
  if (inFlight !== undefined) {
    // The same request is already on its way to commit (it will be answered
    // then); any other request from this client waits for that one.
    if (inFlight !== request.requestNumber) {
      ctx.telemetry(s, 'vsr.client.duplicate', { clientId: request.clientId, requestNumber: request.requestNumber });
    }
    return;
  }

  const verdict = classifyRequest(s.clientTable, request);
  switch (verdict.kind) {
    case 'latest':
      ctx.telemetry(s, 'vsr.client.duplicate', { clientId: request.clientId, requestNumber: request.requestNumber });
      ctx.reply({
        type: 'reply',
        clientId: request.clientId,
        requestNumber: request.requestNumber,
        viewNumber: s.viewNumber,
        opNumber: verdict.session.opNumber,
        result: verdict.session.result,
      });
      return;
    case 'stale':
      ctx.telemetry(s, 'vsr.client.duplicate', { clientId: request.clientId, requestNumber: request.requestNumber });
      return;
    case 'not-registered':
    // Not answered here: a primary cut off from a newer view may not know the
    // client yet. The op commits (or not) and execution gives the verdict.
    case 'new':
      break;
  }

  const { requestQueueMax, requestQueueBytesMax } = ctx.config.limits;
  if (primary.queue.size >= requestQueueMax || primary.queue.bytes + bytes > requestQueueBytesMax) {
    ctx.reply({
      type: 'error',
      clientId: request.clientId,
      requestNumber: request.requestNumber,
      code: 'busy',
      message: `the primary's request queue is full (${primary.queue.size} of ${requestQueueMax} requests, ${primary.queue.bytes} of ${requestQueueBytesMax} bytes); retry later`,
    });
    return;
  }
  primary.queue = primary.queue.push({ request, receivedAtMs, bytes });
  primary.inFlight = primary.inFlight.add(request.clientId, request.requestNumber);
  flushAndCommit(s, ctx);
}

function readClientId(raw: unknown): string | null {
  if (raw === null || typeof raw !== 'object') return null;
  try {
    const clientId = (raw as { clientId?: unknown }).clientId;
    return ClientId.is(clientId) ? clientId : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// The primary: forming ops, collecting acknowledgements, committing

/** Packs queued requests into ops while the pipeline has room, and commits whatever has a quorum. */
export function flushAndCommit(s: DraftState, ctx: StepContext): void {
  for (;;) {
    const prepared = prepareQueued(s, ctx);
    const committed = commitReady(s, ctx);
    if (!prepared && !committed) return;
  }
}

function prepareQueued(s: DraftState, ctx: StepContext): boolean {
  const primary = s.primary;
  if (primary === null) return false;
  const { pipelineMax, batchMax } = ctx.config.limits;
  const pipelineWasEmpty = primary.pipeline.length === 0;
  let prepared = false;
  while (primary.pipeline.length < pipelineMax && primary.queue.size > 0) {
    const [batch, rest] = primary.queue.take(batchMax);
    primary.queue = rest;
    let timestampMs = s.timestampMs;
    for (const queued of batch) timestampMs = Math.max(timestampMs, queued.receivedAtMs);
    const entry = {
      opNumber: s.log.lastOpNumber + 1,
      viewNumber: s.viewNumber,
      timestampMs,
      requests: batch.map((queued) => queued.request),
    };
    s.log = s.log.append(entry);
    s.timestampMs = timestampMs;
    ctx.emit({ kind: 'log-append', entry });
    ctx.telemetry(s, 'vsr.log.append', { requests: entry.requests.length });
    primary.pipeline.push({ opNumber: entry.opNumber, acks: [ctx.self] });
    ctx.broadcast(s, { type: 'prepare', opNumber: entry.opNumber, commitNumber: s.commitNumber, entry });
    ctx.telemetry(s, 'vsr.prepare.sent', { requests: entry.requests.length });
    prepared = true;
  }
  if (pipelineWasEmpty && primary.pipeline.length > 0) ctx.setTimer('prepare-retry');
  return prepared;
}

/** Commits pipeline ops, oldest first, while the oldest has a quorum. */
function commitReady(s: DraftState, ctx: StepContext): boolean {
  const primary = s.primary;
  if (primary === null) return false;
  let committed = false;
  for (let oldest = primary.pipeline[0]; oldest !== undefined && hasQuorum(oldest.acks, ctx.replicaCount); oldest = primary.pipeline[0]) {
    const op = defined(primary.pipeline.shift(), 'the pipeline op just seen at its head');
    assert(op.opNumber === s.commitNumberMax + 1, () => `committing op ${op.opNumber} after commit ${s.commitNumberMax}: the pipeline commits in op order`);
    s.commitNumberMax = op.opNumber;
    ctx.telemetry(s, 'vsr.quorum.reached', { op: op.opNumber, acks: op.acks.length });
    committed = true;
  }
  if (committed) {
    executeCommitted(s, ctx);
    // The retry measures time without progress: under steady load the pipeline never empties,
    // and a timer armed only when it was empty would resend ops acknowledged a moment later.
    if (primary.pipeline.length === 0) ctx.cancelTimer('prepare-retry');
    else ctx.setTimer('prepare-retry');
  }
  return committed;
}

export function onPrepareOk(s: DraftState, ctx: StepContext, m: PrepareOk): void {
  if (!reachesPrimaryWithinLog(s, ctx, m)) return;
  const primary = defined(s.primary, 'the primary state of a replica that takes PrepareOk');
  ctx.telemetry(s, 'vsr.prepare_ok.received', { from: m.replica, op: m.opNumber });
  // Acknowledgements are cumulative: the backup holds every op up to m.opNumber.
  for (const op of primary.pipeline) {
    if (op.opNumber > m.opNumber) break;
    op.acks = addVote(op.acks, m.replica) as number[];
  }
  flushAndCommit(s, ctx);
}

/**
 * For messages a backup sends the primary of its view about an op the primary
 * must hold (PrepareOk, GetState): false, after rejecting what is malformed,
 * unless this replica is that primary, in that view, and holds the op.
 */
export function reachesPrimaryWithinLog(
  s: DraftState,
  ctx: StepContext,
  m: { type: string; replica: number; viewNumber: number; opNumber: number },
): boolean {
  if (m.viewNumber !== s.viewNumber || s.status !== 'normal') return false; // Another view: stale or premature.
  if (s.primary === null) {
    ctx.reject(s, `${m.type} for view ${m.viewNumber} sent to a replica that is not its primary`, describeInput(m));
    return false;
  }
  if (m.opNumber > s.log.lastOpNumber) {
    ctx.reject(s, `${m.type} names op ${m.opNumber}, beyond the primary's op ${s.log.lastOpNumber}`, describeInput(m));
    return false;
  }
  return true;
}

export function onHeartbeatTimeout(s: DraftState, ctx: StepContext): void {
  if (s.status !== 'normal' || s.primary === null) return;
  ctx.broadcast(s, { type: 'commit', commitNumber: s.commitNumber });
  ctx.telemetry(s, 'vsr.heartbeat.sent');
  ctx.setTimer('heartbeat');
}

/**
 * Resends each uncommitted op to each backup that has not acknowledged it (design rule 4 of docs/protocol.md).
 * The timer runs while the pipeline is not empty and restarts whenever an op commits, so it
 * fires only when the oldest op has waited `prepareRetryMs` without a quorum.
 */
export function onPrepareRetryTimeout(s: DraftState, ctx: StepContext): void {
  if (s.status !== 'normal' || s.primary === null || s.primary.pipeline.length === 0) return;
  let resent = 0;
  for (let backup = 0; backup < ctx.replicaCount; backup++) {
    if (backup === ctx.self) continue;
    for (const op of s.primary.pipeline) {
      if (op.acks.includes(backup)) continue;
      const entry = s.log.entryAt(op.opNumber);
      if (entry === undefined) throw new Error(`invariant: pipeline op ${op.opNumber} is not in the log`);
      ctx.send(s, backup, { type: 'prepare', opNumber: op.opNumber, commitNumber: s.commitNumber, entry });
      resent++;
    }
  }
  ctx.telemetry(s, 'vsr.prepare.retransmit', { messages: resent });
  ctx.setTimer('prepare-retry');
}

// ---------------------------------------------------------------------------
// Backups

/**
 * §4.1 step 4: a backup appends the op if it is the next one, acknowledges,
 * and executes whatever the piggybacked commit number allows. It never runs
 * its commit number past the ops it holds; a gap starts state transfer.
 */
export function onPrepare(s: DraftState, ctx: StepContext, m: Prepare): void {
  const reason = checkPrepare(m);
  if (reason !== null) {
    ctx.reject(s, reason, describeInput(m));
    return;
  }
  ctx.setTimer('primary-timeout');
  ctx.telemetry(s, 'vsr.prepare.received', { op: m.opNumber });
  const lastOp = s.log.lastOpNumber;
  if (m.opNumber <= lastOp) {
    // A retransmission: our acknowledgement may have been lost. Acks are cumulative.
    sendPrepareOk(s, ctx);
  } else if (m.opNumber === lastOp + 1) {
    const previous = s.log.entryAt(lastOp);
    const segmentProblem = checkSegment([m.entry], lastOp, s.viewNumber, previous);
    if (segmentProblem !== null) {
      ctx.reject(s, `Prepare does not extend the log: ${segmentProblem}`, describeInput(m));
      return;
    }
    s.log = s.log.append(m.entry);
    s.timestampMs = m.entry.timestampMs;
    ctx.emit({ kind: 'log-append', entry: m.entry });
    ctx.telemetry(s, 'vsr.log.append', { requests: m.entry.requests.length });
    sendPrepareOk(s, ctx);
  }
  learnCommit(s, ctx, m.commitNumber);
  if (m.opNumber > s.log.lastOpNumber) requestRepair(s, ctx);
}

function checkPrepare(m: Prepare): string | null {
  if (m.entry.opNumber !== m.opNumber) return `Prepare for op ${m.opNumber} carries entry ${m.entry.opNumber}`;
  // An op inherited from an earlier view keeps its view; none can come from a later one.
  if (m.entry.viewNumber > m.viewNumber) {
    return `Prepare in view ${m.viewNumber} carries an entry of view ${m.entry.viewNumber}`;
  }
  if (m.commitNumber >= m.opNumber) return `Prepare for op ${m.opNumber} claims commit ${m.commitNumber}`;
  return null;
}

export function sendPrepareOk(s: DraftState, ctx: StepContext): void {
  const primary = s.viewNumber % ctx.replicaCount;
  ctx.send(s, primary, { type: 'prepare-ok', opNumber: s.log.lastOpNumber });
  ctx.telemetry(s, 'vsr.prepare_ok.sent', { op: s.log.lastOpNumber });
}

/** The heartbeat: learn the commit number, keep the primary timer quiet. */
export function onCommit(s: DraftState, ctx: StepContext, m: Commit): void {
  ctx.setTimer('primary-timeout');
  ctx.telemetry(s, 'vsr.heartbeat.received', { commit: m.commitNumber });
  learnCommit(s, ctx, m.commitNumber);
}

/** Records a commit number heard from the primary and executes what the log holds. */
export function learnCommit(s: DraftState, ctx: StepContext, commitNumber: number): void {
  if (commitNumber > s.commitNumberMax) s.commitNumberMax = commitNumber;
  executeCommitted(s, ctx);
  if (s.commitNumberMax > s.log.lastOpNumber) requestRepair(s, ctx);
}

export function onPrimaryTimeout(s: DraftState, ctx: StepContext, startViewChange: (next: number) => void): void {
  if (s.status !== 'normal' || s.primary !== null) return;
  ctx.telemetry(s, 'vsr.primary.timeout');
  startViewChange(s.viewNumber + 1);
}

export function describeInput(m: { type: string; replica: number; viewNumber: number }): string {
  return `${m.type} from replica ${m.replica} in view ${m.viewNumber}`;
}
