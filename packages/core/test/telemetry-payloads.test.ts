/** Telemetry payloads are typed by name: the wrong shape does not compile, and the codecs cover every name. */
import { describe, expect, test } from 'vitest';
import { counterMachine } from './counter.js';
import { TELEMETRY_NAMES, TelemetryPayloads, initialState, parseConfig } from '../src/index.js';
import { StepContext, type DraftState } from '../src/context.js';

describe('telemetry payloads', () => {
  test('every name has a codec, and ctx.telemetry takes exactly its payload', () => {
    expect(Object.keys(TelemetryPayloads).sort()).toEqual([...TELEMETRY_NAMES].sort());
    const config = parseConfig({ replicaId: 0, replicaCount: 3 });
    const ctx = new StepContext(config, counterMachine);
    const s = initialState(config, counterMachine) as unknown as DraftState;
    ctx.telemetry(s, 'vsr.log.append', { entries: 2, requests: 5 });
    ctx.telemetry(s, 'vsr.heartbeat.sent');
    // @ts-expect-error: a field missing (entries)
    ctx.telemetry(s, 'vsr.log.append', { requests: 5 });
    // @ts-expect-error: an event with fields needs them
    ctx.telemetry(s, 'vsr.commit.advance');
    // @ts-expect-error: an event without fields takes none
    ctx.telemetry(s, 'vsr.heartbeat.sent', { extra: 1 });
    const names = ctx.effects.flatMap((effect) => (effect.kind === 'telemetry' ? [effect.event.name] : []));
    expect(names.slice(0, 2)).toEqual(['vsr.log.append', 'vsr.heartbeat.sent']);
    expect(TelemetryPayloads['vsr.log.append'].is({ entries: 2, requests: 5 })).toBe(true);
    expect(TelemetryPayloads['vsr.log.append'].is({ requests: 5 })).toBe(false);
  });
});
