/**
 * What the page learns from its replicas' workers, turned into the live
 * diagram's observations and the table's rows; shared by both modes.
 */
import type { BrowserReplicaStatus } from '../replica.js';
import type { WorkerEvent } from '../worker-protocol.js';
import type { ReplicaRow } from './demo-cluster.js';
import type { LiveTimeline } from './timeline.js';

/** Frame ids restart at each incarnation of a sender; this many incarnations keep their ids apart in the diagram. */
const INCARNATIONS = 1024;

/**
 * Feeds a worker's trace events to the timeline. A frame id is unique per
 * sender and incarnation, so the diagram's message id combines the id, the
 * sender's incarnation (as the page knows it now) and the sender.
 */
export class TraceFeed {
  private readonly incarnations: number[];

  constructor(
    private readonly timeline: LiveTimeline,
    private readonly replicaCount: number,
  ) {
    this.incarnations = Array.from({ length: replicaCount }, () => 0);
  }

  /** A replica starts again: its frame ids start again too. */
  restarted(replicaId: number): void {
    this.incarnations[replicaId] = ((this.incarnations[replicaId] ?? 0) + 1) % INCARNATIONS;
  }

  event(event: WorkerEvent): void {
    if (event.type !== 'trace') return;
    const trace = event.event;
    switch (trace.kind) {
      case 'state':
        return this.timeline.record({ kind: 'state', replicaId: trace.replicaId, viewNumber: trace.viewNumber, status: trace.status, opNumber: trace.opNumber, commitNumber: trace.commitNumber });
      case 'send':
        return this.timeline.record({
          kind: 'send',
          id: this.messageId(trace.from, trace.id),
          from: trace.from,
          to: trace.to,
          type: trace.type,
          viewNumber: trace.viewNumber,
          ...(trace.opNumber === undefined ? {} : { opNumber: trace.opNumber }),
        });
      case 'deliver':
        return this.timeline.record({ kind: 'deliver', id: this.messageId(trace.from, trace.id), to: trace.to });
    }
  }

  private messageId(from: number, frameId: number): number {
    if (from >= this.replicaCount) return -1; // a frame that names no replica: the transport refuses those anyway
    return (frameId * INCARNATIONS + (this.incarnations[from] ?? 0)) * this.replicaCount + from;
  }
}

/** A table row from the last status a replica posted (null: none yet), whether it is up, and its partition. */
export function replicaRow(replicaId: number, status: BrowserReplicaStatus | null, up: boolean, cut: boolean, local: boolean): ReplicaRow {
  if (!up) return { replicaId, status: 'down', viewNumber: null, opNumber: null, commitNumber: null, primary: false, cut, local };
  if (status === null) return { replicaId, status: 'booting', viewNumber: null, opNumber: null, commitNumber: null, primary: false, cut, local };
  return {
    replicaId,
    status: status.status,
    viewNumber: status.viewNumber,
    opNumber: status.opNumber,
    commitNumber: status.commitNumber,
    primary: status.primary === replicaId && status.status === 'normal',
    cut,
    local,
  };
}

/** The links a set of isolated replicas cuts, both directions, for the diagram. */
export function cutLinks(replicaCount: number, isolated: ReadonlySet<number>): Array<[number, number]> {
  const links: Array<[number, number]> = [];
  for (let a = 0; a < replicaCount; a++) {
    for (let b = 0; b < replicaCount; b++) if (a !== b && (isolated.has(a) || isolated.has(b))) links.push([a, b]);
  }
  return links;
}

/** Tells the timeline the partition changed: the old one heals, the new one (if any links are cut) begins. */
export function recordPartition(timeline: LiveTimeline, replicaCount: number, before: ReadonlySet<number>, after: ReadonlySet<number>): void {
  if (before.size > 0) timeline.record({ kind: 'heal' });
  if (after.size > 0) timeline.record({ kind: 'partition', blocked: cutLinks(replicaCount, after) });
}
