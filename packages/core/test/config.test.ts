import { describe, expect, test } from 'vitest';
import { ConfigError, DEFAULT_LIMITS, DEFAULT_TIMEOUTS, initialState, parseConfig, validateConfig } from '../src/index.js';
import { counterMachine } from './counter.js';


describe('configuration', () => {
  test('fills defaults and freezes the result', () => {
    const config = parseConfig({ replicaId: 1, replicaCount: 3 });
    expect(config).toEqual({ cluster: 0, replicaId: 1, replicaCount: 3, timeouts: DEFAULT_TIMEOUTS, limits: DEFAULT_LIMITS });
    expect(Object.isFrozen(config.timeouts)).toBe(true);
  });

  test.each([
    [{ replicaCount: 3 }, 'config.replicaId: expected NonNegativeInteger, got undefined'],
    [{ replicaId: 3, replicaCount: 3 }, 'config.replicaId: must be below config.replicaCount (3), got 3'],
    [{ replicaId: 0, replicaCount: 0 }, 'config.replicaCount: expected PositiveInteger, got 0'],
    [{ replicaId: 0, replicaCount: 16 }, 'config.replicaCount: at most 15 replicas are supported, got 16'],
    [{ replicaId: -1, replicaCount: 3 }, 'config.replicaId: expected NonNegativeInteger, got -1'],
    [{ replicaId: 0, replicaCount: 3, timeouts: { heartbeatMs: 0 } }, 'config.timeouts.heartbeatMs: expected PositiveInteger, got 0'],
    [{ replicaId: 0, replicaCount: 3, timeouts: { heartbeatMs: 1.5 } }, 'config.timeouts.heartbeatMs: expected PositiveInteger, got 1.5'],
    [
      { replicaId: 0, replicaCount: 3, timeouts: { heartbeatMs: 600 } },
      'config.timeouts.heartbeatMs: must be below primaryTimeoutMs (500), got 600',
    ],
    [
      { replicaId: 0, replicaCount: 3, timeouts: { viewChangeRetryMs: 5000 } },
      'config.timeouts.viewChangeRetryMs: must be below viewChangeTimeoutMs (1000), got 5000',
    ],
    [{ replicaId: 0, replicaCount: 3, limits: { pipelineMax: 'many' } }, 'config.limits.pipelineMax: expected PositiveInteger, got "many"'],
    [
      { replicaId: 0, replicaCount: 3, limits: { batchMax: 64, requestQueueMax: 8 } },
      'config.limits.requestQueueMax: must be at least batchMax (64), got 8',
    ],
    [null, 'config: expected an object, got null'],
  ])('rejects %j naming the field', (input, message) => {
    const result = validateConfig(input);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error).toContain(message);
  });

  test('initialState throws a ConfigError for invalid configuration', () => {
    expect(() => initialState({ replicaId: 5, replicaCount: 3 }, counterMachine)).toThrow(ConfigError);
    expect(() => initialState({ replicaId: 5, replicaCount: 3 }, counterMachine)).toThrow(/config\.replicaId/);
  });
});
