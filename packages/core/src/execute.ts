/**
 * Executing committed ops: in op order, each exactly once, on every replica
 * (design rule 5 of docs/protocol.md). The client table is consulted at execution time too, so a
 * request that entered the log twice (a client retry that reached a new
 * primary while the first copy was still uncommitted) runs only once.
 */
import { Opaque } from './state.js';
import type { ClientSession } from './state.js';
import type { DraftState, StepContext } from './context.js';
import type { ClientRequest, LogEntry } from './messages.js';
import { decodeWith } from './codec.js';
import { classifyRequest } from './client-table.js';
import { maybeTakeCheckpoint } from './checkpoint.js';
import { assert, defined } from './assert.js';

/** Executes every op that is both known committed and held, up to `commitNumberMax`. */
export function executeCommitted(s: DraftState, ctx: StepContext): void {
  // Only committed ops ever run (an Elixir defect set the commit number before applying).
  assert(s.commitNumber <= s.commitNumberMax, 'the ops executed are known committed');
  const target = Math.min(s.commitNumberMax, s.log.lastOpNumber);
  if (s.commitNumber >= target) return;
  const from = s.commitNumber;
  const isPrimary = s.primary !== null;
  while (s.commitNumber < target) {
    const opNumber = s.commitNumber + 1;
    const entry = defined(s.log.entryAt(opNumber), "a committed op up to the log's last op, in the log");
    executeEntry(s, ctx, entry, isPrimary);
    s.commitNumber = opNumber;
    maybeTakeCheckpoint(s, ctx, entry);
  }
  // Design rule 6 of docs/protocol.md: as far as committed and held, never past what the log holds.
  assert(s.commitNumber === target, 'execution stops exactly at min(commitNumberMax, lastOpNumber)');
  ctx.telemetry(s, 'vsr.commit.advance', { from, to: s.commitNumber });
}

function executeEntry(s: DraftState, ctx: StepContext, entry: LogEntry, isPrimary: boolean): void {
  // In op order, each once: the client table's verdicts depend on every earlier op having run.
  assert(entry.opNumber === s.commitNumber + 1, 'ops execute in order, each exactly once');
  let executed = 0;
  for (const request of entry.requests) {
    const verdict = classifyRequest(s.clientTable, request);
    switch (verdict.kind) {
      case 'new': {
        const result = request.requestNumber === 0 ? null : applyOperation(s, ctx, entry, request);
        record(s, ctx, request.clientId, { requestNumber: request.requestNumber, result, opNumber: entry.opNumber });
        executed++;
        if (isPrimary) replyResult(s, ctx, request, entry.opNumber, result);
        break;
      }
      case 'latest':
        // The same request entered the log twice; it ran the first time.
        ctx.telemetry(s, 'vsr.client.duplicate', { clientId: request.clientId, requestNumber: request.requestNumber });
        if (isPrimary) replyResult(s, ctx, request, verdict.session.opNumber, verdict.session.result);
        break;
      case 'stale':
        ctx.telemetry(s, 'vsr.client.duplicate', { clientId: request.clientId, requestNumber: request.requestNumber });
        break;
      case 'not-registered':
        if (isPrimary) {
          ctx.reply({
            type: 'error',
            clientId: request.clientId,
            requestNumber: request.requestNumber,
            code: 'not-registered',
            message: `client ${request.clientId} has no session (register with request number 0, or it was evicted)`,
          });
        }
        break;
    }
    // Whatever the verdict, the request is no longer waiting at the primary.
    if (s.primary !== null) s.primary.inFlight = s.primary.inFlight.remove(request.clientId, request.requestNumber);
  }
  ctx.telemetry(s, 'vsr.operation.applied', { opNumber: entry.opNumber, requests: entry.requests.length, executed });
}

/**
 * Runs the application. An operation that fails validation, or an apply that
 * throws, yields an error result on every replica alike and leaves the
 * application state as it was.
 */
function applyOperation(s: DraftState, ctx: StepContext, entry: LogEntry, request: ClientRequest): unknown {
  const decoded = decodeWith(ctx.machine.operation, request.operation, 'operation');
  if (decoded._tag === 'Left') return { error: 'invalid-operation', message: decoded.left };
  try {
    const [next, result] = ctx.machine.apply(s.app.value, decoded.right, {
      opNumber: entry.opNumber,
      timestampMs: entry.timestampMs,
      clientId: request.clientId,
      requestNumber: request.requestNumber,
    });
    s.app = new Opaque(next);
    return result;
  } catch (error) {
    return { error: 'apply-failed', message: error instanceof Error ? error.message : String(error) };
  }
}

function record(s: DraftState, ctx: StepContext, clientId: string, session: ClientSession): void {
  const { clientTableMax, clientTableBytesMax } = ctx.config.limits;
  const { table, evicted } = s.clientTable.record(clientId, session, { sessionsMax: clientTableMax, bytesMax: clientTableBytesMax });
  s.clientTable = table;
  for (const evictedId of evicted) ctx.telemetry(s, 'vsr.client.evicted', { clientId: evictedId });
}

function replyResult(s: DraftState, ctx: StepContext, request: ClientRequest, opNumber: number, result: unknown): void {
  ctx.reply({
    type: 'reply',
    clientId: request.clientId,
    requestNumber: request.requestNumber,
    viewNumber: s.viewNumber,
    opNumber,
    result,
  });
}
