/**
 * A network partition as the harness and the simulator model it: a set of
 * blocked directed links. A message from `from` to `to` is dropped while that
 * link is blocked; the reverse link is independent, so a partition may be
 * asymmetric (a replica that hears its peers but cannot reach them).
 */
export class BlockedLinks {
  /** `from>to` for each blocked link. */
  private readonly links = new Set<string>();

  /** How many directed links are blocked. */
  get size(): number {
    return this.links.size;
  }

  /** Cuts one direction of one link. */
  block(from: number, to: number): void {
    this.links.add(`${from}>${to}`);
  }

  /** Cuts every link in `links`, each in the direction given. */
  blockAll(links: Iterable<readonly [number, number]>): void {
    for (const [from, to] of links) this.block(from, to);
  }

  /** Cuts every link between `replicaId` and the other replicas, both ways. */
  isolate(replicaId: number, replicaCount: number): void {
    for (let other = 0; other < replicaCount; other++) {
      if (other === replicaId) continue;
      this.block(replicaId, other);
      this.block(other, replicaId);
    }
  }

  isBlocked(from: number, to: number): boolean {
    // The common case, no partition, without building a key.
    return this.links.size > 0 && this.links.has(`${from}>${to}`);
  }

  /** Heals every link. */
  clear(): void {
    this.links.clear();
  }
}
