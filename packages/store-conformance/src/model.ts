/**
 * The model the properties hold a store to: what a store must hand back, computed from the
 * effects alone with the core's own reading of the log effects (`applyStorageEffect`), and the
 * random moves that produce effects the way the core does (appends in order, truncations,
 * checkpoints that only grow, a release only after a checkpoint that covers it, headers).
 */
import fc from 'fast-check';
import { applyStorageEffect, type BootStorage, type Checkpoint, type DurableHeader, type Effect, type LogEntry, type StoredLog } from '@vsr/core';

/** What a store holds durably (or would, once its buffered effects are flushed). */
export interface Durable {
  header: DurableHeader | null;
  checkpoint: Checkpoint | null;
  log: StoredLog;
}

/** A random step of the generator: turned into effects against the state it starts from. */
export type Move =
  | { readonly kind: 'append'; readonly requestBytes: number }
  | { readonly kind: 'truncate'; readonly back: number }
  | { readonly kind: 'checkpoint'; readonly back: number }
  | { readonly kind: 'release'; readonly back: number }
  | { readonly kind: 'header'; readonly viewsAhead: number; readonly normalBehind: number };

export const emptyDurable = (): Durable => ({ header: null, checkpoint: null, log: { base: 0, log: [] } });

export function cloneDurable(durable: Durable): Durable {
  return { header: durable.header, checkpoint: durable.checkpoint, log: { base: durable.log.base, log: [...durable.log.log] } };
}

/** An entry whose requests carry text beyond ASCII and a payload of about `requestBytes`. */
export function entryAt(opNumber: number, viewNumber: number, requestBytes = 24): LogEntry {
  return {
    opNumber,
    viewNumber,
    timestampMs: 1_700_000_000_000 + opNumber,
    requests: [
      {
        clientId: `client-${opNumber % 3}`,
        requestNumber: opNumber,
        operation: { type: 'write', key: `k${opNumber % 5}`, value: `v${opNumber} é☃ ${'x'.repeat(requestBytes)}` },
      },
    ],
  };
}

export function checkpointAt(opNumber: number, viewNumber: number): Checkpoint {
  return {
    opNumber,
    viewNumber,
    timestampMs: 1_700_000_000_000 + opNumber,
    snapshot: [[`k${opNumber % 5}`, `v${opNumber} ü`]],
    clientTable: [[`client-${opNumber % 3}`, { requestNumber: opNumber, result: { ok: true }, opNumber }]],
  };
}

export const lastOpNumber = (log: StoredLog): number => log.base + log.log.length;

const viewOf = (durable: Durable): number => durable.header?.viewNumber ?? 0;

/** The effects a move makes from `durable`, as the core would emit them (possibly none). */
export function effectsOf(durable: Durable, move: Move): Effect[] {
  const last = lastOpNumber(durable.log);
  const checkpointOp = durable.checkpoint?.opNumber ?? 0;
  switch (move.kind) {
    case 'append':
      return [{ kind: 'log-append', entry: entryAt(last + 1, viewOf(durable), move.requestBytes) }];
    case 'truncate':
      return [{ kind: 'log-truncate', opNumber: Math.max(0, last - move.back) }];
    case 'checkpoint': {
      const opNumber = Math.max(0, last - move.back);
      return opNumber > checkpointOp ? [{ kind: 'persist-checkpoint', checkpoint: checkpointAt(opNumber, viewOf(durable)) }] : [];
    }
    case 'release': {
      const opNumber = Math.max(0, last - move.back);
      const release: Effect = { kind: 'log-release', opNumber };
      // The core releases only what a persisted checkpoint covers: the checkpoint comes first.
      return opNumber > checkpointOp ? [{ kind: 'persist-checkpoint', checkpoint: checkpointAt(opNumber, viewOf(durable)) }, release] : [release];
    }
    case 'header': {
      const viewNumber = viewOf(durable) + move.viewsAhead;
      return [{ kind: 'persist-header', header: { viewNumber, lastNormalView: Math.max(0, viewNumber - move.normalBehind) } }];
    }
  }
}

/** Applies a storage effect to the model (others are ignored). Throws if the generator broke the log's order. */
export function applyEffect(durable: Durable, effect: Effect): void {
  const problem = applyStorageEffect(durable, effect);
  if (problem !== null) throw new Error(`the conformance suite generated a bad effect: ${problem}`);
}

/** Appends most of the time, so that logs grow long enough for truncations and releases to matter. */
export const moveArbitrary: fc.Arbitrary<Move> = fc.oneof(
  { weight: 6, arbitrary: fc.nat({ max: 160 }).map((requestBytes) => ({ kind: 'append' as const, requestBytes })) },
  { weight: 1, arbitrary: fc.nat({ max: 8 }).map((back) => ({ kind: 'truncate' as const, back })) },
  { weight: 1, arbitrary: fc.nat({ max: 8 }).map((back) => ({ kind: 'checkpoint' as const, back })) },
  { weight: 1, arbitrary: fc.nat({ max: 8 }).map((back) => ({ kind: 'release' as const, back })) },
  { weight: 1, arbitrary: fc.record({ viewsAhead: fc.nat({ max: 2 }), normalBehind: fc.nat({ max: 1 }) }).map((header) => ({ kind: 'header' as const, ...header })) },
);

/** What a store holding `durable` must hand the reducer at boot. */
export function bootOf(durable: Durable): BootStorage {
  if (durable.header === null) return null;
  return { header: durable.header, checkpoint: durable.checkpoint, log: [...durable.log.log] };
}

/** JSON with object keys sorted and an absent checkpoint as null: equal boots, equal text. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

/** A boot event's storage in canonical form (an absent checkpoint is the same as null). */
export function canonicalBoot(boot: BootStorage): string {
  if (boot === null || 'lost' in boot) return canonical(boot);
  return canonical({ header: boot.header, checkpoint: boot.checkpoint ?? null, log: boot.log });
}

/** A short account of a boot for failure messages: the header, the checkpoint's op, the log's ops. */
export function describeBoot(boot: BootStorage): string {
  if (boot === null) return 'nothing (a new replica)';
  if ('lost' in boot) return 'lost';
  const ops = boot.log.map((entry) => entry.opNumber);
  const range = ops.length === 0 ? 'empty' : `ops ${ops[0]}..${ops[ops.length - 1]} (${ops.length})`;
  return `view ${boot.header.viewNumber} (last normal ${boot.header.lastNormalView}), checkpoint at op ${boot.checkpoint?.opNumber ?? 'none'}, log ${range}`;
}

export const describeDurable = (durable: Durable): string => `${describeBoot(bootOf(durable))}, log base ${durable.log.base}`;
