/**
 * The network: messages between replicas and replies to clients are lost, duplicated and
 * delayed (different delays reorder them) while faults are active, and a few are delivered once
 * more, seconds later (a replay); partitions block directed
 * links, checked at send and at delivery.
 */
import type { Message, Reply } from '@vsr/core';
import { BlockedLinks } from '@vsr/testing';
import type { WorldContext } from './context.js';

export class Network {
  private readonly blocked = new BlockedLinks();
  private readonly partitions = new Map<number, Array<[number, number]>>();
  private nextMessageId = 1;

  constructor(private readonly ctx: WorldContext) {}

  get partitionIds(): number[] {
    return [...this.partitions.keys()];
  }

  get partitioned(): boolean {
    return this.partitions.size > 0;
  }

  sendMessage(from: number, to: number, message: Message): void {
    const ctx = this.ctx;
    const id = this.nextMessageId++;
    ctx.counters.messagesSent++;
    if (ctx.tracing) {
      const op = 'opNumber' in message ? message.opNumber : undefined;
      ctx.recorder.push({ atMs: ctx.nowMs, kind: 'send', id, from, to, type: message.type, viewNumber: message.viewNumber, ...(op === undefined ? {} : { op }) });
    }
    if (this.isBlocked(from, to)) return this.drop(id, 'partition');
    if (ctx.faultsActive && ctx.networkRandom.chance(ctx.rates.lossRate)) return this.drop(id, 'loss');
    ctx.queue.push(ctx.nowMs + this.delay(), { kind: 'deliver', id, from, to, message });
    if (ctx.faultsActive && ctx.networkRandom.chance(ctx.rates.duplicateRate)) {
      ctx.queue.push(ctx.nowMs + this.delay(), { kind: 'deliver', id, from, to, message });
    }
    if (ctx.faultsActive && ctx.rates.replayRate > 0 && ctx.replayRandom.chance(ctx.rates.replayRate)) {
      ctx.queue.push(ctx.nowMs + ctx.replayRandom.int(1, ctx.rates.replayDelayMaxMs), { kind: 'deliver', id, from, to, message });
    }
  }

  sendReply(client: number, reply: Reply): void {
    const ctx = this.ctx;
    if (ctx.faultsActive && ctx.networkRandom.chance(ctx.rates.lossRate)) return;
    ctx.queue.push(ctx.nowMs + this.delay(), { kind: 'reply', client, reply });
  }

  /** Whether a client's request is lost on the way (drawn only while faults are active). */
  loseRequest(): boolean {
    return this.ctx.faultsActive && this.ctx.networkRandom.chance(this.ctx.rates.lossRate);
  }

  delay(): number {
    const { rates, faultsActive, networkRandom } = this.ctx;
    return networkRandom.int(rates.delayMinMs, faultsActive ? rates.delayMaxMs : Math.min(3, rates.delayMaxMs));
  }

  drop(id: number, reason: string): void {
    this.ctx.counters.messagesDropped++;
    // A lost message may explain a view change (a lost heartbeat, a lost vote).
    this.ctx.noteFault();
    if (this.ctx.tracing) this.ctx.recorder.push({ atMs: this.ctx.nowMs, kind: 'drop', id, reason });
  }

  isBlocked(from: number, to: number): boolean {
    return this.blocked.isBlocked(from, to);
  }

  startPartition(links: Array<[number, number]>, durationMs: number): void {
    const ctx = this.ctx;
    const id = ++ctx.counters.partitions;
    this.partitions.set(id, links);
    this.rebuildBlocked();
    ctx.noteFault();
    ctx.recorder.record(`partition${id}`);
    if (ctx.tracing) ctx.recorder.push({ atMs: ctx.nowMs, kind: 'partition', blocked: links });
    ctx.queue.push(ctx.nowMs + durationMs, { kind: 'heal-partition', partition: id });
  }

  healPartition(id: number): void {
    if (!this.partitions.delete(id)) return;
    this.rebuildBlocked();
    this.ctx.noteFault();
    this.ctx.recorder.record(`heal${id}`);
    if (this.ctx.tracing) this.ctx.recorder.push({ atMs: this.ctx.nowMs, kind: 'heal' });
  }

  private rebuildBlocked(): void {
    this.blocked.clear();
    for (const links of this.partitions.values()) this.blocked.blockAll(links);
  }
}
