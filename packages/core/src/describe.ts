/**
 * `describe(state)`: a replica's state as stable, readable text, for scenario
 * tests, the demo and debugging. The same state always gives the same text.
 */
import type { LogEntry } from './messages.js';
import type { ReplicaState } from './state.js';
import { primaryOf } from './quorum.js';
import { defined } from './assert.js';

export interface DescribeOptions {
  /** How many of the newest log entries to list (default 6). */
  readonly logTail?: number;
}

export function describe(state: ReplicaState, options: DescribeOptions = {}): string {
  const { config } = state;
  const logTail = options.logTail ?? 6;
  const role =
    state.status === 'booting' || state.status === 'recovering'
      ? state.status
      : primaryOf(state.viewNumber, config.replicaCount) === config.replicaId
        ? state.status === 'normal'
          ? 'primary'
          : 'primary-elect'
        : 'backup';
  const lines: string[] = [];
  lines.push(
    `replica ${config.replicaId}/${config.replicaCount} ${role} view=${state.viewNumber} status=${state.status} ` +
      `last-normal-view=${state.lastNormalView} op=${state.log.lastOpNumber} commit=${state.commitNumber}` +
      (state.commitNumberMax !== state.commitNumber ? ` commit-max=${state.commitNumberMax}` : ''),
  );
  const last = state.log.lastOpNumber;
  // The log holds only the entries after its base (the checkpoint): the tail shown starts there at the earliest.
  const from = Math.max(state.log.baseOpNumber + 1, last - logTail + 1);
  const shown: string[] = [];
  for (let opNumber = from; opNumber <= last; opNumber++) {
    const entry = defined(state.log.entryAt(opNumber), () => `op ${opNumber} in a log holding ops ${state.log.baseOpNumber + 1}..${last}`);
    shown.push(describeEntry(entry, opNumber <= state.commitNumber));
  }
  lines.push(`  log: ${from > last ? '(empty)' : (from > 1 ? '... ' : '') + shown.join(' ')}`);
  if (state.checkpoint !== null) {
    lines.push(`  checkpoint: op ${state.checkpoint.value.opNumber}, log held from op ${state.log.baseOpNumber + 1}`);
  }
  if (state.primary !== null) {
    const pipeline = state.primary.pipeline.map((op) => `${op.opNumber}{${op.acks.join(',')}}`).join(' ');
    lines.push(`  pipeline: ${pipeline || '(empty)'} queue=${state.primary.queue.size}`);
  }
  if (state.viewChange !== null) {
    const { startViewChangeVotes, doViewChangeSent, doViewChanges } = state.viewChange;
    lines.push(
      `  view-change: start-view-change{${startViewChangeVotes.join(',')}} do-view-change-sent=${doViewChangeSent}` +
        ` do-view-change{${doViewChanges.map((vote) => vote.replica).join(',')}}`,
    );
  }
  if (state.repairOpNumber !== null) lines.push(`  repairing: asked for ops after ${state.repairOpNumber}`);
  if (state.recovery !== null) {
    const answers = state.recovery.responses.map((answer) => `${answer.replica}@v${answer.viewNumber}${answer.primaryState ? '*' : ''}`);
    lines.push(`  recovering: nonce=${state.recovery.nonce} answers{${answers.join(',')}}`);
  }
  const sessions = state.clientTable
    .entries()
    .map(([clientId, session]) => `${clientId}#${session.requestNumber}`)
    .sort();
  lines.push(`  clients: ${sessions.length === 0 ? '(none)' : sessions.join(' ')}`);
  return lines.join('\n');
}

/** `op@view[client#request ...]`, with `*` marking executed ops. */
export function describeEntry(entry: LogEntry, executed = false): string {
  const requests = entry.requests.map((request) => `${request.clientId}#${request.requestNumber}`).join(',');
  return `${entry.opNumber}@v${entry.viewNumber}${executed ? '*' : ''}[${requests}]`;
}
