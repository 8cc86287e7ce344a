/**
 * Normal operation (VR Revisited §4.1): the primary orders client requests
 * into ops, backups acknowledge them in order, the primary commits an op once
 * f + 1 replicas (itself included) hold it, and Commit doubles as the
 * heartbeat when the primary is idle.
 */
import { decodeWith, readClientId } from './codec.js';
import { ClientRequest, type Commit, type Prepare, type PrepareOk } from './messages.js';
import type { DraftPrimary, DraftState, StepContext } from './context.js';
import { measureClientInput } from './request-bounds.js';
import { classifyRequest } from './client-table.js';
import { addVote, hasQuorum, primaryOf } from './quorum.js';
import { executeCommitted } from './execute.js';
import { checkSegment } from './log.js';
import { learnCommit, requestRepair } from './state-transfer.js';
import { sendPrepareOk } from './acknowledge.js';
import { checkPrepare, reachesPrimaryWithinLog } from './message-checks.js';
import { answerReads, resendRound } from './reads.js';
import { describeInput } from './describe-input.js';
import { assert, defined } from './assert.js';

// ---------------------------------------------------------------------------
// Client requests (§4.1 step 1, and the client table of §4)

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
  const measured = measureClientInput(request, ctx.config.limits, 'request');
  if (!measured.ok) return refuse(measured.reason);
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
    // The same request is already on its way to commit: it is answered then. An older one is a
    // late copy of a request the client saw answered: dropped, as the client table drops it.
    if (request.requestNumber <= inFlight) {
      if (request.requestNumber < inFlight) ctx.telemetry(s, 'vsr.client.duplicate', { clientId: request.clientId, requestNumber: request.requestNumber });
      return;
    }
    // A newer one (a client that gave up waiting): one request at a time per client, so it is
    // refused, plainly, rather than dropped in silence.
    const message = `client ${request.clientId} has request ${inFlight} in flight; request ${request.requestNumber} can run only after it (one request at a time per client): retry later`;
    ctx.reply({ type: 'error', clientId: request.clientId, requestNumber: request.requestNumber, code: 'busy', message });
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
  // Checked just above: the queue is bounded in requests and in bytes, whatever the clients send.
  assert(primary.queue.size <= requestQueueMax && primary.queue.bytes <= requestQueueBytesMax, 'the request queue stays within its bounds');
  flushAndCommit(s, ctx);
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
  // The pipeline holds the log's tail after what is executed: a new op extends both.
  assert((primary.pipeline.at(-1)?.opNumber ?? s.commitNumber) === s.log.lastOpNumber, 'the pipeline ends at the last op of the log');
  let prepared = false;
  while (primary.pipeline.length < pipelineMax && primary.queue.size > 0) {
    const [batch, rest] = primary.queue.take(batchMax);
    assert(batch.length > 0 && batch.length <= batchMax, 'an op carries between one and batchMax requests');
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
    ctx.telemetry(s, 'vsr.log.append', { entries: 1, requests: entry.requests.length });
    primary.pipeline.push({ opNumber: entry.opNumber, acks: [ctx.self] });
    ctx.broadcast(s, { type: 'prepare', opNumber: entry.opNumber, commitNumber: s.commitNumber, entry });
    ctx.telemetry(s, 'vsr.prepare.sent', { requests: entry.requests.length });
    prepared = true;
  }
  // A view change may hand the new primary more than pipelineMax uncommitted ops (replicas that
  // restarted lost their commit numbers), but preparing never goes past the bound.
  assert(!prepared || primary.pipeline.length <= pipelineMax, 'preparing keeps the pipeline within pipelineMax');
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
    ctx.telemetry(s, 'vsr.quorum.reached', { opNumber: op.opNumber, acks: op.acks.length });
    committed = true;
  }
  if (committed) {
    executeCommitted(s, ctx);
    answerReads(s, ctx);
    // The primary holds every op it commits, so it executes all of them at once.
    assert(s.commitNumber === s.commitNumberMax, 'the primary executes every op it commits');
    // The retry measures time without progress: under steady load the pipeline never empties,
    // and a timer armed only when it was empty would resend ops acknowledged a moment later.
    if (primary.pipeline.length === 0) ctx.cancelTimer('prepare-retry');
    else ctx.setTimer('prepare-retry');
  }
  return committed;
}

export function onPrepareOk(s: DraftState, ctx: StepContext, m: PrepareOk): void {
  // Ignorable: another view, another status, a replica that is not the primary, an op it lacks.
  if (!reachesPrimaryWithinLog(s, ctx, m)) return;
  // What must then hold: this is the view's primary, and the acknowledgement is a backup's.
  const primary = defined(s.primary, 'the primary state of a replica that takes PrepareOk');
  assert(s.status === 'normal' && m.viewNumber === s.viewNumber && ctx.isPrimaryOf(s.viewNumber), 'PrepareOk reaches the primary of its view');
  assert(m.replica !== ctx.self && m.opNumber <= s.log.lastOpNumber, 'PrepareOk comes from a backup, for an op the primary holds');
  ctx.telemetry(s, 'vsr.prepare_ok.received', { from: m.replica, opNumber: m.opNumber });
  // Acknowledgements are cumulative: the backup holds every op up to m.opNumber. The ops are the
  // previous state's, frozen: one that gains a vote is replaced, not changed.
  const pipeline = primary.pipeline;
  for (let index = 0; index < pipeline.length; index++) {
    const op = defined(pipeline[index], 'a pipeline op within its length');
    if (op.opNumber > m.opNumber) break;
    const acks = addVote(op.acks, m.replica) as number[];
    if (acks !== op.acks) pipeline[index] = { opNumber: op.opNumber, acks };
  }
  flushAndCommit(s, ctx);
}

export function onHeartbeatTimeout(s: DraftState, ctx: StepContext): void {
  if (s.status !== 'normal' || s.primary === null) return;
  // Commit tells backups to execute up to it: only ops the primary holds and has executed.
  assert(s.commitNumber <= s.log.lastOpNumber && s.commitNumber <= s.commitNumberMax, 'the primary has executed the ops it announces');
  ctx.broadcast(s, { type: 'commit', commitNumber: s.commitNumber });
  ctx.telemetry(s, 'vsr.heartbeat.sent');
  resendRound(s, ctx);
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
      const entry = defined(s.log.entryAt(op.opNumber), () => `pipeline op ${op.opNumber} in the log`);
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
  // A backup in normal status, in the Prepare's view (routeFromPrimary routed it here).
  assert(s.status === 'normal' && s.primary === null && m.viewNumber === s.viewNumber, 'a Prepare reaches a backup of its view');
  ctx.setTimer('primary-timeout');
  ctx.telemetry(s, 'vsr.prepare.received', { opNumber: m.opNumber });
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
    ctx.telemetry(s, 'vsr.log.append', { entries: 1, requests: m.entry.requests.length });
    sendPrepareOk(s, ctx);
  }
  learnCommit(s, ctx, m.commitNumber);
  if (m.opNumber > s.log.lastOpNumber) requestRepair(s, ctx);
  // Design rule 6 of docs/protocol.md: executing never runs ahead of the ops held.
  assert(s.commitNumber <= s.log.lastOpNumber, 'a backup executes only ops it holds');
}

/** The heartbeat: learn the commit number, keep the primary timer quiet. */
export function onCommit(s: DraftState, ctx: StepContext, m: Commit): void {
  assert(s.status === 'normal' && s.primary === null && m.viewNumber === s.viewNumber, 'a Commit reaches a backup of its view');
  ctx.setTimer('primary-timeout');
  ctx.telemetry(s, 'vsr.heartbeat.received', { commitNumber: m.commitNumber });
  learnCommit(s, ctx, m.commitNumber);
}
