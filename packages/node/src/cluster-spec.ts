/**
 * Named replicas: a cluster given as members with names (and, for TCP, addresses), the way the
 * Elixir library takes any term as a node id. The core numbers replicas 0..n-1; here a
 * member's replica id is its position in `members`, the same list on every replica, so names
 * map to ids identically everywhere. Untrusted (a config file, a call): every problem is
 * refused with the member and the field named.
 */
import type { Address } from './tcp-transport.js';

export interface ClusterMember {
  /** 1 to 64 characters: letters, digits, '.', '_', '-', ':' (a host name, a node id). */
  readonly name: string;
  /** Where its peer port listens, for the default TCP transport. */
  readonly address?: Address;
}

export interface ClusterSpec {
  /** This replica's name: one of `members`. */
  readonly self: string;
  /** Every replica, this one included, in the same order on every replica (the order gives the ids). */
  readonly members: readonly ClusterMember[];
}

/** A checked `ClusterSpec`: ids, names and addresses. */
export interface ResolvedCluster {
  readonly replicaId: number;
  readonly replicaCount: number;
  /** Names by replica id. */
  readonly names: readonly string[];
  /** Addresses by replica id, when every member has one; otherwise null. */
  readonly addresses: readonly Address[] | null;
  idOf(name: string): number | undefined;
}

const NAME = /^[A-Za-z0-9._:-]{1,64}$/;

export class ClusterSpecError extends Error {
  constructor(message: string) {
    super(`cluster: ${message}`);
    this.name = 'ClusterSpecError';
  }
}

/** Checks a cluster given by names; throws a `ClusterSpecError` naming what is wrong. */
export function resolveCluster(spec: ClusterSpec): ResolvedCluster {
  if (spec === null || typeof spec !== 'object') throw new ClusterSpecError('expected { self, members }');
  const members: unknown = spec.members;
  if (!Array.isArray(members) || members.length === 0) throw new ClusterSpecError('members must be a non-empty list');
  const names = members.map((member: unknown, index) => memberName(member, index));
  const ids = new Map<string, number>();
  names.forEach((name, replicaId) => {
    const earlier = ids.get(name);
    if (earlier !== undefined) throw new ClusterSpecError(`members[${replicaId}]: the name ${JSON.stringify(name)} is also members[${earlier}]`);
    ids.set(name, replicaId);
  });
  const replicaId = typeof spec.self === 'string' ? ids.get(spec.self) : undefined;
  if (replicaId === undefined) throw new ClusterSpecError(`self: ${JSON.stringify(spec.self)} is not one of the members (${names.join(', ')})`);
  const addresses = (members as ClusterMember[]).map((member, index) => memberAddress(member, index));
  const known = addresses.filter((address): address is Address => address !== undefined);
  return {
    replicaId,
    replicaCount: names.length,
    names,
    addresses: known.length === names.length ? known : null,
    idOf: (name) => ids.get(name),
  };
}

function memberName(member: unknown, index: number): string {
  if (member === null || typeof member !== 'object') throw new ClusterSpecError(`members[${index}]: expected { name, address? }`);
  const name = (member as { name?: unknown }).name;
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new ClusterSpecError(`members[${index}].name: expected 1 to 64 letters, digits or . _ : -, got ${JSON.stringify(name) ?? 'nothing'}`);
  }
  return name;
}

function memberAddress(member: ClusterMember, index: number): Address | undefined {
  const address: unknown = member.address;
  if (address === undefined) return undefined;
  const { host, port } = (address ?? {}) as { host?: unknown; port?: unknown };
  if (typeof host !== 'string' || host.length === 0 || typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ClusterSpecError(`members[${index}].address: expected { host: string, port: 0..65535 }, got ${JSON.stringify(address)}`);
  }
  return { host, port };
}
