/**
 * The nemesis: crashes, restarts, wipes, corrupted records and partitions, drawn from the seed
 * at the rates of the run (or played from an explicit schedule), never with more than f
 * replicas unable to vote. When the faults end the world heals: partitions end, every replica
 * restarts, the network stops losing messages, and the liveness clock starts. Some runs heal
 * only a quorum core (partial-heal.ts) and the rest when the workload is over.
 */
import type { WorldContext } from './context.js';
import { livenessCheckEveryMs } from './liveness.js';
import type { Network } from './network.js';
import { cutOffLinks, drawLeftOut } from './partial-heal.js';
import type { Replicas } from './replicas.js';
import type { ScheduledFault } from './types.js';

export class Nemesis {
  constructor(
    private readonly ctx: WorldContext,
    private readonly replicas: Replicas,
    private readonly network: Network,
  ) {}

  /** The faults of the schedule given, or the first tick of each fault class the rates enable. */
  start(): void {
    const { options, rates, queue } = this.ctx;
    if (options.schedule !== undefined) {
      for (const fault of options.schedule) queue.push(fault.atMs, { kind: 'scheduled', fault });
      return;
    }
    if (rates.crashEveryMs > 0) queue.push(this.nextFaultDelay(rates.crashEveryMs), { kind: 'crash-tick' });
    if (rates.wipeEveryMs > 0) queue.push(this.nextFaultDelay(rates.wipeEveryMs), { kind: 'wipe-tick' });
    if (rates.corruptEveryMs > 0) queue.push(this.nextFaultDelay(rates.corruptEveryMs), { kind: 'corrupt-tick' });
    if (rates.partitionEveryMs > 0) queue.push(this.nextFaultDelay(rates.partitionEveryMs), { kind: 'partition-tick' });
  }

  private nextFaultDelay(meanMs: number): number {
    return Math.max(1, Math.round(meanMs * (0.5 + this.ctx.faultRandom.float())));
  }

  private again(meanMs: number, kind: 'crash-tick' | 'wipe-tick' | 'corrupt-tick' | 'partition-tick'): void {
    this.ctx.queue.push(this.ctx.nowMs + this.nextFaultDelay(meanMs), { kind });
  }

  onCrashTick(): void {
    const { faultsActive, f, faultRandom, rates, queue } = this.ctx;
    if (!faultsActive) return;
    if (this.replicas.unavailable() < f) {
      const candidates = this.replicas.processes.map((process, r) => (process.up ? r : -1)).filter((r) => r >= 0);
      const victim = faultRandom.pick(candidates);
      this.crash(victim);
      const downtime = faultRandom.int(rates.downtimeMinMs, rates.downtimeMaxMs);
      queue.push(this.ctx.nowMs + downtime, { kind: 'restart', replica: victim });
    }
    this.again(rates.crashEveryMs, 'crash-tick');
  }

  onWipeTick(): void {
    const { faultsActive, f, faultRandom, rates, queue } = this.ctx;
    if (!faultsActive) return;
    const candidates = this.replicas.processes
      .map((process, r) => (process.up && process.state.status !== 'recovering' ? r : -1))
      .filter((r) => r >= 0);
    if (this.replicas.unavailable() < f && candidates.length > 0) {
      const victim = faultRandom.pick(candidates);
      this.wipe(victim);
      queue.push(this.ctx.nowMs + faultRandom.int(rates.downtimeMinMs, rates.downtimeMaxMs), { kind: 'restart', replica: victim });
    }
    this.again(rates.wipeEveryMs, 'wipe-tick');
  }

  /** Corrupts a stored record on one replica, never leaving fewer than f + 1 intact stores. */
  onCorruptTick(): void {
    const { faultsActive, f, faultRandom, rates, counters } = this.ctx;
    if (!faultsActive) return;
    const processes = this.replicas.processes;
    const impaired = processes.filter(
      (process) => process.disk.damaged > 0 || process.disk.lost || !process.up || process.state.status === 'recovering',
    ).length;
    const candidates = processes
      .map((process, r) => (process.disk.damaged === 0 && !process.disk.lost && process.disk.header !== null ? r : -1))
      .filter((r) => r >= 0);
    if (impaired < f && candidates.length > 0) {
      const victim = faultRandom.pick(candidates);
      this.replicas.get(victim).disk.damaged++;
      counters.storageFaults++;
      this.ctx.recorder.record(`corrupt${victim}`);
    }
    this.again(rates.corruptEveryMs, 'corrupt-tick');
  }

  onPartitionTick(): void {
    const { faultsActive, faultRandom, rates } = this.ctx;
    if (!faultsActive) return;
    if (!this.network.partitioned) {
      const links = this.drawLinks();
      if (links.length > 0) this.network.startPartition(links, faultRandom.int(rates.partitionMinMs, rates.partitionMaxMs));
    }
    this.again(rates.partitionEveryMs, 'partition-tick');
  }

  /** One replica cut off both ways, two groups, or some links failing in one direction only. */
  private drawLinks(): Array<[number, number]> {
    const random = this.ctx.faultRandom;
    const n = this.ctx.options.replicaCount;
    const links: Array<[number, number]> = [];
    const shape = random.int(0, 2);
    if (shape === 0) {
      const isolated = random.int(0, n - 1);
      for (let other = 0; other < n; other++) if (other !== isolated) links.push([isolated, other], [other, isolated]);
    } else if (shape === 1) {
      const side = Array.from({ length: n }, () => random.chance(0.5));
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (side[a] !== side[b]) links.push([a, b]);
    } else {
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (a !== b && random.chance(0.3)) links.push([a, b]);
    }
    return links;
  }

  /** The process dies and its disk is lost. */
  private wipe(replica: number): void {
    const process = this.replicas.get(replica);
    if (process.up) this.crash(replica);
    process.disk.wipe();
    this.ctx.counters.wipes++;
    this.ctx.noteFault();
    this.ctx.recorder.record(`wipe${replica}`);
    if (this.ctx.tracing) this.ctx.recorder.push({ atMs: this.ctx.nowMs, kind: 'wipe', replicaId: replica });
  }

  private crash(replica: number): void {
    const { faultRandom, rates, counters } = this.ctx;
    const process = this.replicas.get(replica);
    process.up = false;
    process.incarnation++;
    process.timers.clear();
    process.barrier.reset();
    // Checkpoints being written in the background may have landed, oldest first.
    process.disk.crashCheckpoints(faultRandom.int(0, process.disk.checkpointsWriting));
    process.checkpointWriteScheduled = false;
    // Unsynced writes may have reached the disk in part: keep a prefix (never past a release its checkpoint does not cover).
    const interrupted = process.disk.crashCache(faultRandom.int(0, this.replicas.writable(process)));
    if (interrupted && faultRandom.chance(rates.tornWriteRate)) {
      // The write the crash interrupted is half on the disk: its checksum will not match.
      process.disk.damaged++;
      counters.storageFaults++;
    }
    process.fsyncScheduled = false;
    counters.crashes++;
    this.ctx.noteFault();
    this.ctx.recorder.record(`crash${replica}`);
    if (this.ctx.tracing) this.ctx.recorder.push({ atMs: this.ctx.nowMs, kind: 'crash', replicaId: replica });
  }

  restart(replica: number): void {
    const { options, faultRandom } = this.ctx;
    const process = this.replicas.get(replica);
    if (process.up) return;
    process.up = true;
    process.state = this.replicas.newState(replica);
    this.replicas.monitor.restarted(replica);
    this.ctx.counters.restarts++;
    this.ctx.noteFault();
    this.ctx.recorder.record(`restart${replica}`);
    if (this.ctx.tracing) this.ctx.recorder.push({ atMs: this.ctx.nowMs, kind: 'restart', replicaId: replica });
    if (process.disk.damaged > 0) {
      // A checksum failed at boot: the store is refused and the replica recovers from its peers.
      this.ctx.counters.repairs++;
      process.disk.wipe();
    }
    if (options.bugs?.truncateTailAtBoot === true && process.disk.log.length > 0) process.disk.log.pop();
    if (options.bugs?.skipHeaderWrites === true && process.disk.header === null && !process.disk.lost) process.disk.format();
    this.replicas.runStep(replica, { kind: 'boot', storage: process.disk.bootStorage(() => faultRandom.int(0, 0x7fff_ffff)) });
  }

  onScheduledFault(fault: ScheduledFault): void {
    if (!this.ctx.faultsActive) return;
    const n = this.ctx.options.replicaCount;
    const target = this.replicas.processes[fault.kind === 'partition' ? -1 : fault.replica];
    switch (fault.kind) {
      case 'crash':
        if (target?.up === true && this.replicas.unavailable() < this.ctx.f) this.crash(fault.replica);
        return;
      case 'wipe': {
        if (target === undefined) return;
        const counted = !target.up || target.state.status === 'recovering';
        if (counted || this.replicas.unavailable() < this.ctx.f) this.wipe(fault.replica);
        return;
      }
      case 'restart':
        if (target !== undefined && !target.up) this.restart(fault.replica);
        return;
      case 'partition': {
        const links = fault.blocked.filter(([a, b]) => a !== b && a < n && b < n).map(([a, b]) => [a, b] as [number, number]);
        if (links.length > 0) this.network.startPartition(links, fault.durationMs);
        return;
      }
    }
  }

  /**
   * The faults are over: heal partitions, restart every replica (or, in a partial heal, all but
   * f of them, which stay crashed or cut off); the liveness clock starts.
   */
  endFaults(): void {
    const ctx = this.ctx;
    if (!ctx.faultsActive) return;
    ctx.faultsActive = false;
    const leftOut = drawLeftOut(ctx, this.replicas);
    ctx.leftOut = leftOut.map((each) => each.replica);
    for (const id of this.network.partitionIds) this.network.healPartition(id);
    for (let r = 0; r < this.replicas.processes.length; r++) if (!ctx.leftOut.includes(r)) this.restart(r);
    for (const { replica, how } of leftOut) if (how === 'crashed' && this.replicas.get(replica).up) this.crash(replica);
    const cutOff = leftOut.filter((each) => each.how === 'cut-off').map((each) => each.replica);
    // Cut off until the workload ends: healAll heals it, long before this duration.
    if (cutOff.length > 0) this.network.startPartition(cutOffLinks(cutOff, ctx.options.replicaCount), Number.MAX_SAFE_INTEGER / 4);
    ctx.faultsEndedMs = ctx.nowMs;
    ctx.noteFault();
    ctx.queue.push(ctx.nowMs + livenessCheckEveryMs(ctx.options), { kind: 'liveness-check' });
    if (ctx.tracing) ctx.recorder.push({ atMs: ctx.nowMs, kind: 'faults-end' });
  }

  /** The workload is over: the replicas a partial heal left out rejoin, so the cluster can converge. */
  healAll(): void {
    const ctx = this.ctx;
    if (ctx.leftOut.length === 0) return;
    for (const id of this.network.partitionIds) this.network.healPartition(id);
    for (const replica of ctx.leftOut) this.restart(replica);
    ctx.leftOut = [];
    ctx.noteFault();
  }
}
