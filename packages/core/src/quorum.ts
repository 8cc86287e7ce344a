/**
 * Quorum arithmetic and vote sets (design rule 1 of docs/protocol.md: quorums are sets of replica
 * ids, never counters, so a duplicated message can never count twice).
 */
import { assert, defined } from './assert.js';

/** f: the number of replicas that may fail. */
export function faultsTolerated(replicaCount: number): number {
  // No assertion here: interpreters call it on counts they have not validated yet, and refuse those themselves.
  return Math.floor((replicaCount - 1) / 2);
}

/** f + 1: a majority of the configuration. */
export function quorumSize(replicaCount: number): number {
  return faultsTolerated(replicaCount) + 1;
}

/** The primary of view v is replica v mod n. */
export function primaryOf(viewNumber: number, replicaCount: number): number {
  // Negative or fractional operands would give an id outside the configuration (-1 % 3 is -1).
  assert(viewNumber >= 0 && replicaCount >= 1, 'a view number is non-negative and a configuration has a replica');
  return viewNumber % replicaCount;
}

/** A set of distinct replica ids, kept sorted so equal sets are deep-equal. */
export type VoteSet = readonly number[];

/** Adds a vote; adding one that is already there returns the same set. */
export function addVote(votes: VoteSet, replicaId: number): VoteSet {
  assert(Number.isSafeInteger(replicaId) && replicaId >= 0, 'a vote comes from a replica id');
  if (votes.includes(replicaId)) return votes;
  const added = [...votes, replicaId].sort((a, b) => a - b);
  assert(added.length === votes.length + 1, 'a new vote grows the set by one');
  return added;
}

export function hasVote(votes: VoteSet, replicaId: number): boolean {
  return votes.includes(replicaId);
}

export function hasQuorum(votes: VoteSet, replicaCount: number): boolean {
  return votes.length >= quorumSize(replicaCount);
}

/**
 * The log the new view starts from: the one with the largest last normal
 * view, ties to the largest op number (then the lowest replica id, so the
 * choice is deterministic; equal last normal views and op numbers mean equal
 * logs).
 */
export function chooseLog<V extends { readonly lastNormalView: number; readonly opNumber: number }>(votes: readonly V[]): V {
  let chosen = defined(votes[0], 'at least one vote to choose a log from');
  for (const vote of votes) {
    if (
      vote.lastNormalView > chosen.lastNormalView ||
      (vote.lastNormalView === chosen.lastNormalView && vote.opNumber > chosen.opNumber)
    ) {
      chosen = vote;
    }
  }
  return chosen;
}
