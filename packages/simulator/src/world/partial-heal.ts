/**
 * A partial heal (VOPR style): when the faults end, some runs heal only a quorum core and leave
 * f replicas crashed or cut off until the workload is over. The core must still answer every
 * client (clients retry at every replica), so a protocol that needs more than a quorum to make
 * progress (an availability bug) fails the liveness bound instead of hiding behind the full heal.
 */
import type { WorldContext } from './context.js';
import type { Replicas } from './replicas.js';

/** The share of runs with crash, wipe or partition faults that heal only a quorum core. */
const DEFAULT_PARTIAL_HEAL_SHARE = 0.5;

/** How a replica left out of the core stays out: down, or up and cut off from every peer. */
export interface LeftOut {
  readonly replica: number;
  readonly how: 'crashed' | 'cut-off';
}

/**
 * The replicas to leave out, or none (a full heal). Replicas that could not serve in the core
 * (down with a lost or damaged disk, so they would recover; recovering; down) are left out
 * first: a core of f + 1 needs every member able to vote, and a recovering member could not even
 * finish, since recovery needs answers from f + 1 other replicas.
 */
export function drawLeftOut(ctx: WorldContext, replicas: Replicas): LeftOut[] {
  const { options, rates, faultRandom, f } = ctx;
  const share = options.partialHealShare ?? DEFAULT_PARTIAL_HEAL_SHARE;
  const disruptive = rates.crashEveryMs > 0 || rates.wipeEveryMs > 0 || rates.partitionEveryMs > 0;
  if (f === 0 || options.schedule !== undefined || !disruptive || !faultRandom.chance(share)) return [];
  const rank = (r: number): number => {
    const process = replicas.get(r);
    if (!process.up && (process.disk.lost || process.disk.damaged > 0)) return 0;
    if (process.up && process.state.status === 'recovering') return 1;
    if (!process.up) return 2;
    if (process.disk.damaged > 0) return 3;
    return 4;
  };
  // A random order first, so ties (healthy replicas) are broken by the seed.
  const order = replicas.processes.map((_, r) => r);
  for (let i = order.length - 1; i > 0; i--) {
    const j = faultRandom.int(0, i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const chosen = order.sort((a, b) => rank(a) - rank(b)).slice(0, f);
  return chosen.map((replica) => ({ replica, how: replicas.get(replica).up && faultRandom.chance(0.5) ? 'cut-off' : 'crashed' }));
}

/** Every link between a cut-off replica and any other replica, both ways. */
export function cutOffLinks(cutOff: readonly number[], replicaCount: number): Array<[number, number]> {
  const links: Array<[number, number]> = [];
  for (const replica of cutOff) {
    for (let other = 0; other < replicaCount; other++) {
      if (other !== replica) links.push([replica, other], [other, replica]);
    }
  }
  return links;
}
