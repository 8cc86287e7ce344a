import { describe, expect, test } from 'vitest';
import { ConfigError, DEFAULT_LIMITS, DEFAULT_TIMEOUTS, initialState, parseConfig, validateConfig } from '../src/index.js';
import { VIEW_CHANGE_BACKOFF_DOUBLINGS_MAX, relationshipProblems } from '../src/config.js';
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
    [
      { replicaId: 0, replicaCount: 3, limits: { requestBytesMax: 2048, requestQueueBytesMax: 1024 } },
      'config.limits.requestQueueBytesMax: must be at least requestBytesMax (2048), got 1024',
    ],
    [
      { replicaId: 0, replicaCount: 3, timeouts: { viewChangeTimeoutMs: 2 ** 50 } },
      'config.timeouts.viewChangeTimeoutMs: must be at most 562949953421311, so that its backoff (×16) stays a safe integer, got 1125899906842624',
    ],
    [null, 'config: expected an object, got null'],
  ])('rejects %j naming the field', (input, message) => {
    const result = validateConfig(input);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error).toContain(message);
  });

  test.each([
    [
      { replicaId: 0, replicaCount: 3, limits: { pipelinMax: 4 } },
      'config.limits.pipelinMax: unknown field (known: pipelineMax, batchMax, requestQueueMax, requestBytesMax, requestQueueBytesMax, clientTableMax, clientTableBytesMax, readsPendingMax, readRoundsMax, stateTransferEntriesMax, checkpointIntervalOps)',
    ],
    [{ replicaId: 0, replicaCount: 3, replicas: 3 }, 'config.replicas: unknown field (known: replicaId, replicaCount, cluster, timeouts, limits)'],
    [{ replicaId: 0, replicaCount: 3, timeouts: { heartbeat: 50 } }, 'config.timeouts.heartbeat: unknown field (known: heartbeatMs, primaryTimeoutMs,'],
    [JSON.parse('{"replicaId":0,"replicaCount":3,"__proto__":{"x":1}}'), 'config.__proto__: unknown field'],
  ])('refuses the unknown field in %j, naming it and the known ones', (input, message) => {
    const result = validateConfig(input);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error).toContain(message);
  });

  test('reports unknown fields along with invalid ones, and a bounded number of them', () => {
    const result = validateConfig({ replicaId: -1, replicaCount: 3, limits: { pipelinMax: 4, batchMax: 0 } });
    expect(result.ok ? '' : result.error).toMatch(/^config\.limits\.pipelinMax: unknown field .*; config\.replicaId: expected NonNegativeInteger, got -1/);
    expect(result.ok ? '' : result.error).toContain('config.limits.batchMax: expected PositiveInteger, got 0');
    const many = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`field${i}`, i]));
    const error = (validateConfig({ replicaId: 0, replicaCount: 3, ...many }) as { error: string }).error;
    expect(error).toContain('config.field4: unknown field');
    expect(error).not.toContain('config.field5:');
    expect(error).toMatch(/; and 995 more unknown fields$/);
  });

  test('never throws, even on an object whose getters, proxy traps or thrown values throw', () => {
    const throwing = { toString: () => { throw new Error('no'); } };
    const hostile = [
      { replicaId: 0, replicaCount: 3, get limits(): never { throw new Error('getter'); } },
      new Proxy({}, { ownKeys: () => { throw new Error('ownKeys'); } }),
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- a thrown non-Error, on purpose: validateConfig must survive it
      { replicaId: 0, replicaCount: 3, timeouts: new Proxy({}, { ownKeys: () => { throw throwing; } }) },
      (() => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return proxy; })(),
    ];
    for (const input of hostile) {
      let result: ReturnType<typeof validateConfig> | undefined;
      expect(() => (result = validateConfig(input))).not.toThrow();
      expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/^config: could not be read \(/) });
    }
  });

  test('refuses every broken relationship at once, each naming its fields', () => {
    const result = validateConfig({ replicaId: 0, replicaCount: 3, timeouts: { heartbeatMs: 600, viewChangeRetryMs: 5000 }, limits: { batchMax: 64, requestQueueMax: 8 } });
    expect(result.ok ? [] : result.error.split('; ')).toEqual([
      'config.timeouts.heartbeatMs: must be below primaryTimeoutMs (500), got 600',
      'config.timeouts.viewChangeRetryMs: must be below viewChangeTimeoutMs (1000), got 5000',
      'config.limits.requestQueueMax: must be at least batchMax (64), got 8',
    ]);
  });

  test('accepts the relationships at their edges', () => {
    const backedOffMsMax = Math.floor(Number.MAX_SAFE_INTEGER / 2 ** VIEW_CHANGE_BACKOFF_DOUBLINGS_MAX);
    const edges = { timeouts: { heartbeatMs: 499, viewChangeTimeoutMs: backedOffMsMax }, limits: { requestQueueMax: 32, requestQueueBytesMax: 1024 * 1024 } };
    expect(validateConfig({ replicaId: 0, replicaCount: 3, ...edges }).ok).toBe(true);
    expect(Number.isSafeInteger(backedOffMsMax * 2 ** VIEW_CHANGE_BACKOFF_DOUBLINGS_MAX)).toBe(true);
  });

  test('the defaults keep every relationship (checked when config.ts loads), and the check would see them broken', () => {
    expect(relationshipProblems(DEFAULT_TIMEOUTS, DEFAULT_LIMITS)).toEqual([]);
    expect(relationshipProblems({ ...DEFAULT_TIMEOUTS, primaryTimeoutMs: DEFAULT_TIMEOUTS.heartbeatMs }, DEFAULT_LIMITS)).toEqual([
      `config.timeouts.heartbeatMs: must be below primaryTimeoutMs (${DEFAULT_TIMEOUTS.heartbeatMs}), got ${DEFAULT_TIMEOUTS.heartbeatMs}`,
    ]);
  });

  test('initialState throws a ConfigError for invalid configuration', () => {
    expect(() => initialState({ replicaId: 5, replicaCount: 3 }, counterMachine)).toThrow(ConfigError);
    expect(() => initialState({ replicaId: 5, replicaCount: 3 }, counterMachine)).toThrow(/config\.replicaId/);
  });
});
