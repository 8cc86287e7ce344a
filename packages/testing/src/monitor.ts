/**
 * Safety checks shared by the harness and the simulator, run after every
 * step of every replica:
 * - agreement: no two replicas ever execute different ops at one op number;
 * - a replica never executes past the ops it holds;
 * - durability of answers: every op a client saw answered is in the log of
 *   the primary of every view at or after the view that answered it.
 * A broken check throws a SafetyViolation naming the replica and the op.
 */
import { InvariantError, checkReplicaInvariants, primaryOf, type LogEntry, type ReplicaState } from '@vsr/core';

export class SafetyViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetyViolation';
  }
}

/** A canonical text for an entry: two entries are the same op iff their digests are equal. */
export function entryDigest(entry: LogEntry): string {
  const requests = entry.requests
    .map((request) => `${request.clientId}#${request.requestNumber}:${JSON.stringify(request.operation)}`)
    .join('|');
  return `${entry.opNumber}@${entry.viewNumber}t${entry.timestampMs}[${requests}]`;
}

interface Answered {
  readonly digest: string;
  /** The view the op was prepared in: (op number, view) names one op. */
  readonly entryView: number;
  /** The earliest view in which a client was answered from it. */
  readonly answeredInView: number;
}

export class SafetyMonitor {
  /** op number → digest of the op executed there (by any replica, ever), and the entry seen first. */
  readonly committed = new Map<number, { digest: string; entry: LogEntry }>();
  /** op number → the op a client was answered from. */
  readonly acknowledged = new Map<number, Answered>();
  private readonly executedUpTo: number[];
  private readonly checkedLeadership: string[];

  /**
   * `stateInvariants: false` leaves out `checkReplicaInvariants` after each step, so a test can
   * show that the checks below catch a planted bug on their own, without the state's invariants
   * catching it first.
   */
  constructor(
    readonly replicaCount: number,
    private readonly options: { readonly stateInvariants: boolean } = { stateInvariants: true },
  ) {
    this.executedUpTo = new Array<number>(replicaCount).fill(0);
    this.checkedLeadership = new Array<string>(replicaCount).fill('');
  }

  /** A new process starts from storage: it executes again from op 1. */
  restarted(replica: number): void {
    this.executedUpTo[replica] = 0;
    this.checkedLeadership[replica] = '';
  }

  /** A replica answered a client from op `opNumber` in view `viewNumber`. */
  answered(replica: number, state: ReplicaState, opNumber: number, viewNumber: number): void {
    const entry = state.log.entryAt(opNumber) ?? this.committed.get(opNumber)?.entry;
    if (entry === undefined) throw new SafetyViolation(`replica ${replica} answered from op ${opNumber}, which it lacks`);
    const digest = entryDigest(entry);
    const known = this.acknowledged.get(opNumber);
    if (known !== undefined && known.digest !== digest) {
      throw new SafetyViolation(`op ${opNumber} was answered as ${known.digest} and later as ${digest}`);
    }
    if (known === undefined || viewNumber < known.answeredInView) {
      this.acknowledged.set(opNumber, { digest, entryView: entry.viewNumber, answeredInView: viewNumber });
    }
  }

  afterStep(replica: number, state: ReplicaState): void {
    // The state's own invariants (state.ts documents them on each field), after every step.
    if (this.options.stateInvariants) {
      try {
        checkReplicaInvariants(state);
      } catch (error) {
        if (error instanceof InvariantError) throw new SafetyViolation(`replica ${replica} broke a state invariant: ${error.message}`);
        throw error;
      }
    }
    for (let opNumber = this.executedUpTo[replica]! + 1; opNumber <= state.commitNumber; opNumber++) {
      const entry = state.log.entryAt(opNumber);
      // Installed from a checkpoint: the ops it covers were not executed here one by one.
      if (entry === undefined) continue;
      const known = this.committed.get(opNumber);
      if (known === undefined) this.committed.set(opNumber, { digest: entryDigest(entry), entry });
      else if (known.entry !== entry && known.digest !== entryDigest(entry)) {
        // (The same entry object is the same op: in one process, messages share them.)
        throw new SafetyViolation(
          `replica ${replica} executed ${entryDigest(entry)} at op ${opNumber}, another executed ${known.digest}`,
        );
      }
    }
    this.executedUpTo[replica] = state.commitNumber;
    if (state.commitNumber > state.log.lastOpNumber) {
      throw new SafetyViolation(`replica ${replica} has commit ${state.commitNumber} beyond its op ${state.log.lastOpNumber}`);
    }
    const isPrimary = state.status === 'normal' && primaryOf(state.viewNumber, this.replicaCount) === replica;
    const leadership = isPrimary ? `${state.viewNumber}` : '';
    if (isPrimary && this.checkedLeadership[replica] !== leadership) {
      // A replica may still finish forming an older view after a newer one
      // answered clients; it can commit nothing there, so only views at or
      // after the answering view must hold the op.
      for (const [opNumber, answered] of this.acknowledged) {
        if (answered.answeredInView > state.viewNumber || opNumber <= state.log.baseOpNumber) continue;
        const entry = state.log.entryAt(opNumber);
        if (entry === undefined || entry.viewNumber !== answered.entryView) {
          throw new SafetyViolation(
            `replica ${replica} became primary of view ${state.viewNumber} without acknowledged op ${answered.digest}`,
          );
        }
      }
    }
    this.checkedLeadership[replica] = leadership;
  }
}
