/**
 * The reducer: `step(state, event) → [state, effects]`. Pure, deterministic
 * and total: untrusted input that fails validation yields a `reject` effect
 * and leaves protocol state as it was; only a broken internal invariant
 * throws, and that is a bug to surface.
 */
import { onClientRead, onConfirmViewOk } from './reads.js';
import type * as t from 'io-ts';
import { decodeWith } from './codec.js';
import { ConfigError, parseConfig } from './config.js';
import type { DraftState } from './context.js';
import { StepContext } from './context.js';
import { type Effect, type Event, TimerName } from './effects.js';
import { Message, isReadShaped } from './messages.js';
import { Log } from './log.js';
import { ClientTable } from './client-table.js';
import { Opaque, type ReplicaState, type StateMachine } from './state.js';
import { primaryOf } from './quorum.js';
import { describeInput } from './describe-input.js';
import { onBoot } from './boot.js';
import { onClientRequest, onHeartbeatTimeout, onPrepareOk, onPrepareRetryTimeout } from './normal.js';
import { routeFromPrimary } from './from-primary.js';
import {
  onDoViewChange,
  onPrimaryTimeout,
  onStartView,
  onStartViewChange,
  onViewChangeRetryTimeout,
  onViewChangeTimeout,
} from './view-change.js';
import { onGetState, onRepairRetryTimeout } from './state-transfer.js';
import { onRecovery, onRecoveryResponse, onRecoveryRetryTimeout } from './recovery.js';

/**
 * A replica before boot. `config` is validated here (a ConfigError names the
 * offending field); the replica does nothing until it receives the boot event.
 */
export function initialState<S, Op, R>(config: unknown, machine: StateMachine<S, Op, R>): ReplicaState {
  const validated = parseConfig(config);
  const version = machine.snapshotVersion;
  if (version !== undefined && !(Number.isSafeInteger(version) && version >= 0)) {
    throw new ConfigError(`machine ${machine.name}: snapshotVersion must be a non-negative integer, got ${String(version)}`);
  }
  const state: ReplicaState = {
      config: validated,
      machine: new Opaque(machine),
      status: 'booting',
      viewNumber: 0,
      lastNormalView: 0,
      log: Log.EMPTY,
      checkpoint: null,
      commitNumber: 0,
      commitNumberMax: 0,
      app: new Opaque<unknown>(machine.init()),
      clientTable: ClientTable.EMPTY,
      timestampMs: 0,
      primary: null,
      viewChange: null,
      repairOpNumber: null,
      recovery: null,
  };
  return deepFreeze(state);
}

/**
 * One step. Handlers work on a copy-on-write draft made by hand: a shallow
 * copy of the state and of the few small records handlers mutate in place
 * (the primary's pipeline array, whose frozen ops are replaced rather than
 * changed, and the view-change votes). Everything else in the
 * state is either a number or a persistent value that handlers replace,
 * never mutate. The result is deep-frozen (`deepFreeze`, which skips the
 * persistent values), so the previous state is frozen too: a handler that
 * mutated something it had not copied would throw at once rather than
 * corrupt an earlier state.
 *
 * immer's `produce` here cost several times as much (its proxies trap
 * every read of the draft; measured in docs/benchmarks.md). A step
 * that changes nothing returns the very same state object.
 */
export function step(state: ReplicaState, event: Event): [ReplicaState, Effect[]] {
  const ctx = new StepContext(state.config, state.machine.value);
  const draft = workingCopy(state);
  dispatch(draft, ctx, event);
  if (unchanged(state, draft)) return [state, ctx.effects];
  return [deepFreeze(draft as ReplicaState), ctx.effects];
}

/**
 * Freezes a value's plain objects and arrays, deeply, stopping at what is frozen already (the
 * records a step did not copy, the config) and at class instances (the persistent values,
 * `Log`, `ClientTable`, `Opaque`, which keep their own contents immutable). The state has no
 * native Map or Set. Written out rather than immer's `freeze`, which walks each object's keys
 * through closures and type checks and was a tenth of a step.
 */
function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== Array.prototype && prototype !== null) return value;
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) deepFreeze(item);
  } else {
    for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

function workingCopy(state: ReplicaState): DraftState {
  const { primary, viewChange, recovery } = state;
  return {
    ...state,
    recovery: recovery && { ...recovery },
    // The pipeline array is copied, its ops are not: a handler replaces an op it changes (onPrepareOk).
    primary: primary && { ...primary, pipeline: [...primary.pipeline] },
    viewChange: viewChange && {
      ...viewChange,
      startViewChangeVotes: viewChange.startViewChangeVotes,
      doViewChanges: [...viewChange.doViewChanges],
    },
  } as DraftState;
}

/** True when the step changed nothing, so callers can rely on `next === state`. */
function unchanged(state: ReplicaState, draft: DraftState): boolean {
  for (const key of Object.keys(state) as Array<keyof ReplicaState>) {
    if (key === 'primary' || key === 'viewChange' || key === 'recovery') continue;
    if (state[key] !== (draft as unknown as ReplicaState)[key]) return false;
  }
  const [a, b] = [state.primary, draft.primary];
  if (a === null || b === null) {
    if (a !== b) return false;
  } else if (
    a.queue !== b.queue ||
    a.inFlight !== b.inFlight ||
    a.reads !== b.reads ||
    a.pipeline.length !== b.pipeline.length ||
    a.pipeline.some((op, i) => op.opNumber !== b.pipeline[i]?.opNumber || op.acks !== b.pipeline[i]?.acks)
  ) {
    return false;
  }
  const [e, f] = [state.recovery, draft.recovery];
  if (e === null || f === null) {
    if (e !== f) return false;
  } else if (e.nonce !== f.nonce || e.responses !== f.responses) {
    return false;
  }
  const [c, d] = [state.viewChange, draft.viewChange];
  if (c === null || d === null) return c === d;
  return (
    c.startViewChangeVotes === d.startViewChangeVotes &&
    c.doViewChangeSent === d.doViewChangeSent &&
    c.doViewChanges.length === d.doViewChanges.length &&
    c.doViewChanges.every((vote, i) => vote === d.doViewChanges[i])
  );
}

function dispatch(s: DraftState, ctx: StepContext, event: unknown): void {
  const kind = readKind(event);
  if (kind === null) {
    ctx.reject(s, 'event: expected an object with a string `kind`', 'event');
    return;
  }
  if (s.status === 'booting' && kind !== 'boot') {
    ctx.reject(s, `${kind} before boot: the replica has not booted`, kind);
    return;
  }
  const e = event as Record<string, unknown>;
  switch (kind) {
    case 'boot':
      return onBoot(s, ctx, e.storage);
    case 'message':
      return onMessage(s, ctx, e.message);
    case 'client-request': {
      const receivedAtMs = e.receivedAtMs;
      const validTime = typeof receivedAtMs === 'number' && Number.isSafeInteger(receivedAtMs) && receivedAtMs >= 0;
      if (receivedAtMs !== undefined && !validTime) {
        ctx.reject(s, 'client-request.receivedAtMs: expected a non-negative integer', 'client-request');
        return;
      }
      if (isReadShaped(e.request)) return onClientRead(s, ctx, e.request);
      return onClientRequest(s, ctx, e.request, validTime ? receivedAtMs : 0);
    }
    case 'timeout': {
      const timer = decodeWith(TimerName, e.timer, 'timeout.timer');
      if (timer._tag === 'Left') {
        ctx.reject(s, timer.left, 'timeout');
        return;
      }
      return onTimeout(s, ctx, timer.right);
    }
    default:
      ctx.reject(s, `event.kind: unknown event kind ${JSON.stringify(kind).slice(0, 40)}`, 'event');
  }
}

function readKind(event: unknown): string | null {
  const kind = readField(event, 'kind');
  return typeof kind === 'string' ? kind : null;
}

/** Reads one field of untrusted input without letting a hostile getter throw. */
function readField(input: unknown, field: string): unknown {
  if (input === null || typeof input !== 'object') return undefined;
  try {
    return (input as Record<string, unknown>)[field];
  } catch {
    return undefined;
  }
}

/** Each message type's own codec: decoding against the one named by `type` gives errors about that type only. */
const MESSAGE_CODECS: ReadonlyMap<string, t.Decoder<unknown, Message>> = new Map(
  Message.types.map((codec) => [codec.props.type.value, codec as t.Decoder<unknown, Message>]),
);

function onTimeout(s: DraftState, ctx: StepContext, timer: TimerName): void {
  switch (timer) {
    case 'heartbeat':
      return onHeartbeatTimeout(s, ctx);
    case 'prepare-retry':
      return onPrepareRetryTimeout(s, ctx);
    case 'primary-timeout':
      return onPrimaryTimeout(s, ctx);
    case 'view-change-retry':
      return onViewChangeRetryTimeout(s, ctx);
    case 'view-change-timeout':
      return onViewChangeTimeout(s, ctx);
    case 'repair-retry':
      return onRepairRetryTimeout(s, ctx);
    case 'recovery-retry':
      return onRecoveryRetryTimeout(s, ctx);
  }
}

/**
 * Validates a peer's message (shape, cluster, sender) and routes it.
 * Messages that must come from the primary of their view are checked here
 * (design rule 9 of docs/protocol.md); from-primary.ts routes those by view.
 */
function onMessage(s: DraftState, ctx: StepContext, raw: unknown): void {
  const type = readField(raw, 'type');
  const codec = typeof type === 'string' ? MESSAGE_CODECS.get(type) : undefined;
  if (codec === undefined) {
    ctx.reject(s, `message.type: expected one of ${[...MESSAGE_CODECS.keys()].join(', ')}, got ${JSON.stringify(type) ?? 'undefined'}`.slice(0, 300), 'message');
    return;
  }
  const decoded = decodeWith(codec, raw, 'message');
  if (decoded._tag === 'Left') {
    ctx.reject(s, decoded.left, 'message');
    return;
  }
  const m = decoded.right;
  if (m.cluster !== ctx.config.cluster) {
    ctx.reject(s, `message.cluster: expected cluster ${ctx.config.cluster}, got ${m.cluster}`, describeInput(m));
    return;
  }
  if (m.replica >= ctx.replicaCount) {
    ctx.reject(s, `message.replica: ${m.replica} is not in the configuration of ${ctx.replicaCount} replicas`, describeInput(m));
    return;
  }
  if (m.replica === ctx.self) {
    ctx.reject(s, `message.replica: a message claiming to come from this replica (${ctx.self})`, describeInput(m));
    return;
  }

  // A recovering replica takes part in nothing until it has recovered.
  if (s.status === 'recovering' && m.type !== 'recovery-response') return;
  switch (m.type) {
    case 'recovery':
      return onRecovery(s, ctx, m);
    case 'recovery-response':
      return onRecoveryResponse(s, ctx, m);
    case 'start-view-change':
      return onStartViewChange(s, ctx, m);
    case 'do-view-change':
      return onDoViewChange(s, ctx, m);
    case 'start-view':
      if (!fromPrimaryOfItsView(s, ctx, m)) return;
      return onStartView(s, ctx, m);
    case 'prepare-ok':
      return onPrepareOk(s, ctx, m);
    case 'get-state':
      return onGetState(s, ctx, m);
    case 'confirm-view-ok':
      return onConfirmViewOk(s, ctx, m);
    case 'prepare':
    case 'commit':
    case 'confirm-view':
    case 'new-state': {
      if (!fromPrimaryOfItsView(s, ctx, m)) return;
      return routeFromPrimary(s, ctx, m);
    }
  }
}

function fromPrimaryOfItsView(
  s: DraftState,
  ctx: StepContext,
  m: { type: string; replica: number; viewNumber: number },
): boolean {
  if (m.replica === primaryOf(m.viewNumber, ctx.replicaCount)) return true;
  ctx.reject(s, `${m.type} from replica ${m.replica}, which is not the primary of view ${m.viewNumber}`, describeInput(m));
  return false;
}
