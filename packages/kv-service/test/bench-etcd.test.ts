/**
 * The pure parts of `npm run bench:etcd` and of the load generator it shares
 * with `npm run bench:kv`: the flags and their errors, etcd's PUT over the
 * HTTP/JSON gateway (the body, which answers are successes, the gateway's path
 * by version), the member command lines, the ratios and the tables. Nothing
 * here starts etcd or a replica: the benchmark itself is the integration check.
 */
import { describe, expect, test } from 'vitest';
import { UsageError } from '@vsr/core/cli-flags';
import {
  DEFAULT_PORT,
  classifyEtcdPut,
  comparisons,
  cpuPerWriteMicros,
  etcdPutBody,
  gatewayPrefix,
  measurementTable,
  parseEtcdBenchOptions,
  parseEtcdVersion,
  ratio,
  ratioTable,
  type Measurement,
} from '../bench/etcd-compare.js';
import { etcdMemberArgs } from '../bench/etcd-cluster.js';
import { benchKey, benchValue, percentile, rejectionFailure, roundRobin } from '../bench/generator.js';
import { classifyKvPut } from '../bench/kv-wire.js';

const usageError = (argv: string[]) => {
  try {
    parseEtcdBenchOptions(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`${argv.join(' ')} was accepted`);
};

describe('bench:etcd flags', () => {
  test('the defaults: 1, 16 and 64 clients, 10 s after 1 s, one round, 100-byte values on 1,000 keys, plain, port 7600', () => {
    expect(parseEtcdBenchOptions([])).toEqual({
      clients: [1, 16, 64],
      seconds: 10,
      warmup: 1,
      rounds: 1,
      valueBytes: 100,
      keys: 1000,
      port: DEFAULT_PORT,
      security: 'off',
      protocol: 'http',
      startTimeoutMs: 30_000,
      requestTimeoutMs: 30_000,
      json: false,
    });
  });

  test('every flag is read', () => {
    const options = parseEtcdBenchOptions([
      '--clients', '4, 32', '--seconds', '2.5', '--warmup', '0', '--rounds', '3', '--value-bytes', '10', '--keys', '50',
      '--port', '9000', '--security', 'on', '--protocol', 'vsr', '--start-timeout-ms', '500', '--request-timeout-ms', '700', '--json',
    ]);
    expect(options).toEqual({ clients: [4, 32], seconds: 2.5, warmup: 0, rounds: 3, valueBytes: 10, keys: 50, port: 9000, security: 'on', protocol: 'vsr', startTimeoutMs: 500, requestTimeoutMs: 700, json: true });
  });

  test('--help asks for the usage text', () => {
    expect(parseEtcdBenchOptions(['--help'])).toBeNull();
    expect(parseEtcdBenchOptions(['-h', '--clients', 'nonsense'])).toBeNull();
  });

  test('bad flags are usage errors that name the flag', () => {
    expect(usageError(['--clients', ''])).toMatch(/^--clients: expected client counts separated by commas/);
    expect(usageError(['--clients', '1,,16'])).toMatch(/^--clients: expected client counts/);
    expect(usageError(['--clients', '0'])).toBe('--clients: must be between 1 and 10000, got 0');
    expect(usageError(['--clients', '1.5'])).toBe("--clients: expected an integer, got '1.5'");
    expect(usageError(['--clients', '16,1,16'])).toBe('--clients: 16 appears twice');
    expect(usageError(['--seconds', '0'])).toBe('--seconds: expected a number of seconds from 0.1 to 3600, got "0"');
    expect(usageError(['--seconds', ' '])).toMatch(/^--seconds: expected a number of seconds/);
    expect(usageError(['--warmup=-1'])).toMatch(/^--warmup: expected a number of seconds from 0 to 3600/);
    expect(usageError(['--rounds', '0'])).toBe('--rounds: must be between 1 and 100, got 0');
    expect(usageError(['--port', '65500'])).toBe('--port: must be between 1024 and 65413, got 65500');
    expect(usageError(['--value-bytes=-1'])).toMatch(/^--value-bytes: must be between 0 and/);
    expect(usageError(['--security', 'tls'])).toBe('--security: expected off or on, got "tls"');
    expect(usageError(['--protocol', 'grpc'])).toBe('--protocol: expected http or vsr, got "grpc"');
    expect(usageError(['--start-timeout-ms', '0'])).toMatch(/^--start-timeout-ms: must be between 1 and/);
    expect(usageError(['--bogus'])).toMatch(/Unknown option '--bogus'/);
    expect(usageError(['--seconds'])).toMatch(/--seconds/);
    expect(usageError(['16'])).toBe('unexpected argument "16" (flags start with --)');
  });
});

describe("etcd's PUT on the HTTP/JSON gateway", () => {
  test('the body carries the key and the value in base64', () => {
    const body = JSON.parse(etcdPutBody('bench-007', 'c3-xxxx')) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['key', 'value']);
    expect(body['key']).toBe('YmVuY2gtMDA3');
    expect(Buffer.from(String(body['value']), 'base64').toString('utf8')).toBe('c3-xxxx');
    expect(JSON.parse(etcdPutBody('k', ''))).toEqual({ key: 'aw==', value: '' });
  });

  test('a success is HTTP 200 with a JSON object holding a header', () => {
    const answer = '{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"2","raft_term":"2"}}';
    expect(classifyEtcdPut({ code: 200, body: answer })).toBeNull();
    expect(classifyEtcdPut({ code: 200, body: '{"header":{}}' })).toBeNull();
  });

  test('anything else is a failure, its kind naming the status and the error', () => {
    expect(classifyEtcdPut({ code: 200, body: '{}' })).toEqual(['HTTP 200 without a "header"', '{}']);
    expect(classifyEtcdPut({ code: 200, body: '{"header":null}' })?.[0]).toBe('HTTP 200 without a "header"');
    expect(classifyEtcdPut({ code: 200, body: '{"header":"x"}' })?.[0]).toBe('HTTP 200 without a "header"');
    expect(classifyEtcdPut({ code: 200, body: '[{"header":{}}]' })?.[0]).toBe('HTTP 200 without a "header"');
    expect(classifyEtcdPut({ code: 200, body: 'ok' })).toEqual(['HTTP 200 without a "header"', 'ok']);
    const unavailable = '{"error":"etcdserver: request timed out","code":14,"message":"etcdserver: request timed out"}';
    expect(classifyEtcdPut({ code: 503, body: unavailable })).toEqual(['HTTP 503 etcdserver: request timed out', unavailable]);
    expect(classifyEtcdPut({ code: 400, body: '{"code":3,"message":"invalid character"}' })?.[0]).toBe('HTTP 400 invalid character');
    expect(classifyEtcdPut({ code: 404, body: '404 page not found\n' })).toEqual(['HTTP 404', '404 page not found']);
    // A header does not make a non-200 a success.
    expect(classifyEtcdPut({ code: 500, body: '{"header":{}}' })?.[0]).toBe('HTTP 500');
  });

  test("the gateway's path by version, read from `etcd --version`", () => {
    const output = 'etcd Version: 3.4.23\nGit SHA: Not provided (use ./build instead of go build)\nGo Version: go1.19.8\nGo OS/Arch: linux/amd64\n';
    expect(parseEtcdVersion(output)).toBe('3.4.23');
    expect(parseEtcdVersion('etcd Version: 3.5.0-rc.1\n')).toBe('3.5.0-rc.1');
    expect(parseEtcdVersion('etcdctl version: 3.4.23\n')).toBeNull();
    expect(gatewayPrefix('3.4.23')).toBe('/v3');
    expect(gatewayPrefix('3.5.9')).toBe('/v3');
    expect(gatewayPrefix('3.3.25')).toBe('/v3beta');
    expect(gatewayPrefix('3.2.26')).toBe('/v3alpha');
    expect(() => gatewayPrefix('2.3.8')).toThrow(/3\.x only/);
    expect(() => gatewayPrefix('latest')).toThrow(/not an etcd version/);
  });
});

describe('the etcd members', () => {
  test('each its own name, data directory and ports; one static --initial-cluster naming every peer URL', () => {
    const args = [0, 1, 2].map((index) => etcdMemberArgs(index, { directory: '/tmp/d', port: 7600, tls: false, clusterToken: 't' }));
    const flag = (list: string[], name: string) => list[list.indexOf(name) + 1];
    expect(args.map((list) => flag(list, '--name'))).toEqual(['m0', 'm1', 'm2']);
    expect(args.map((list) => flag(list, '--data-dir'))).toEqual(['/tmp/d/m0', '/tmp/d/m1', '/tmp/d/m2']);
    expect(args.map((list) => flag(list, '--listen-client-urls'))).toEqual(['http://127.0.0.1:7600', 'http://127.0.0.1:7601', 'http://127.0.0.1:7602']);
    expect(args.map((list) => flag(list, '--listen-peer-urls'))).toEqual(['http://127.0.0.1:7610', 'http://127.0.0.1:7611', 'http://127.0.0.1:7612']);
    const cluster = 'm0=http://127.0.0.1:7610,m1=http://127.0.0.1:7611,m2=http://127.0.0.1:7612';
    for (const list of args) {
      expect(flag(list, '--initial-cluster')).toBe(cluster);
      expect(flag(list, '--initial-cluster-state')).toBe('new');
      expect(list).not.toContain('--cert-file');
    }
  });

  test('with TLS: https URLs, each member its certificate, peers checked against the CA', () => {
    const args = etcdMemberArgs(1, { directory: '/tmp/d', port: 8000, tls: true, clusterToken: 't' });
    const flag = (name: string) => args[args.indexOf(name) + 1];
    expect(flag('--advertise-client-urls')).toBe('https://127.0.0.1:8001');
    expect(flag('--initial-advertise-peer-urls')).toBe('https://127.0.0.1:8011');
    expect(flag('--cert-file')).toBe('/tmp/d/tls/m1.pem');
    expect(flag('--peer-key-file')).toBe('/tmp/d/tls/m1-key.pem');
    expect(flag('--peer-trusted-ca-file')).toBe('/tmp/d/tls/ca.pem');
    expect(args).toContain('--peer-client-cert-auth');
  });
});

const measurement = (system: Measurement['system'], clients: number, round: number, throughput: number, p99: number, cpu: number | null): Measurement => ({
  system,
  clients,
  round,
  completed: throughput * 10,
  errors: 0,
  throughput,
  latencyMs: { p50: p99 / 3, p90: p99 / 2, p99, max: p99 * 2, mean: p99 / 3 },
  serverCpuPerWriteMicros: cpu,
});

describe('figures and ratios', () => {
  test('server CPU per write: the processes summed over the successful writes, in µs; unknown when a process or the writes are', () => {
    expect(cpuPerWriteMicros([0.5, 0.25, 0.25], 1000)).toBe(1000);
    expect(cpuPerWriteMicros([1.2, 0, 0], 3000)).toBe(400);
    expect(cpuPerWriteMicros([0.5, null, 0.25], 1000)).toBeNull();
    expect(cpuPerWriteMicros([0.5, 0.5, 0.5], 0)).toBeNull();
    expect(cpuPerWriteMicros([], 10)).toBeNull();
  });

  test('a ratio is rounded to two decimals, and unknown for a missing or non-positive divisor', () => {
    expect(ratio(1, 3)).toBe(0.33);
    expect(ratio(500, 1000)).toBe(0.5);
    expect(ratio(5, 0)).toBeNull();
    expect(ratio(null, 2)).toBeNull();
    expect(ratio(2, null)).toBeNull();
    expect(ratio(Number.NaN, 2)).toBeNull();
  });

  test('vsr-kv over etcd at each client count: round by round, and of the means over the rounds', () => {
    const measurements = [
      measurement('etcd', 16, 1, 1000, 10, 2000),
      measurement('vsr-kv', 16, 1, 500, 20, 3000),
      measurement('vsr-kv', 16, 2, 700, 30, 4000),
      measurement('etcd', 16, 2, 1400, 20, 2000),
      measurement('etcd', 64, 1, 2000, 40, 1000),
      measurement('vsr-kv', 64, 1, 3000, 20, null),
    ];
    const [sixteen, sixtyFour] = comparisons(measurements, [16, 64]);
    expect(sixteen).toEqual({
      clients: 16,
      byRound: [
        { throughput: 0.5, p99: 2, cpuPerWrite: 1.5 },
        { throughput: 0.5, p99: 1.5, cpuPerWrite: 2 },
      ],
      overall: { throughput: 0.5, p99: 1.67, cpuPerWrite: 1.75 },
    });
    expect(sixtyFour).toEqual({ clients: 64, byRound: [{ throughput: 1.5, p99: 0.5, cpuPerWrite: null }], overall: { throughput: 1.5, p99: 0.5, cpuPerWrite: null } });
  });

  test('the tables: a row per system, client count and round; a row of ratios per client count', () => {
    const measurements = [measurement('vsr-kv', 16, 1, 1234, 20, 1500), measurement('etcd', 16, 1, 2468, 10, null)];
    const rows = measurementTable(measurements);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^system\s+clients\s+round\s+requests\/s\s+p50 ms\s+p99 ms\s+server CPU\/write µs\s+errors$/);
    expect(rows[1]).toMatch(/^etcd\s+16\s+1\s+2,468\s+3\.33\s+10\.00\s+\?\s+0$/);
    expect(rows[2]).toMatch(/^vsr-kv\s+16\s+1\s+1,234\s+6\.67\s+20\.00\s+1,500\s+0$/);
    const ratios = ratioTable(comparisons(measurements, [16]));
    expect(ratios[0]).toMatch(/^clients\s+throughput\s+p99\s+CPU per write$/);
    expect(ratios[1]).toMatch(/^16\s+0\.50\s+2\.00\s+\?$/);
    const twoRounds = ratioTable(comparisons([...measurements, measurement('vsr-kv', 16, 2, 1000, 10, 1000), measurement('etcd', 16, 2, 1000, 10, 1000)], [16]));
    expect(twoRounds[1]).toMatch(/^16\s+0\.64 \(0\.50 \/ 1\.00\)\s+1\.50 \(2\.00 \/ 1\.00\)\s+\? \(\? \/ 1\.00\)$/);
  });
});

describe('the shared load generator', () => {
  test('nearest-rank percentiles', () => {
    const sorted = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(percentile(sorted, 0.5)).toBe(5);
    expect(percentile(sorted, 0.99)).toBe(10);
    expect(percentile(sorted, 0)).toBe(1);
    expect(percentile(Float64Array.from([7]), 0.99)).toBe(7);
    expect(percentile(new Float64Array(0), 0.5)).toBeNaN();
  });

  test('keys, values and the round-robin', () => {
    expect(benchKey(7, 1000)).toBe('bench-007');
    expect(benchKey(999, 1000)).toBe('bench-999');
    expect(benchKey(0, 1)).toBe('bench-0');
    expect(benchValue(12, 100)).toHaveLength(100);
    expect(benchValue(12, 6)).toBe('c12-xx');
    expect(benchValue(12, 2)).toBe('c1');
    expect([0, 1, 2, 3, 4].map((index) => roundRobin(['a', 'b', 'c'], index))).toEqual(['a', 'b', 'c', 'a', 'b']);
    expect(() => roundRobin([], 0)).toThrow(/no items/);
  });

  test('a rejected request is classified by its code, as a client timeout, or as a socket error', () => {
    expect(rejectionFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7600'), { code: 'ECONNREFUSED' }))[0]).toBe('ECONNREFUSED');
    expect(rejectionFailure(new Error('no answer from http://127.0.0.1:7600/v3/kv/put within 30000 ms'))[0]).toBe('client timeout');
    expect(rejectionFailure(new Error('socket hang up'))).toEqual(['socket error', 'socket hang up']);
  });

  test("vsr-kv's PUT succeeds only as 200 {\"ok\":true}", () => {
    expect(classifyKvPut({ code: 200, body: '{"ok":true}' })).toBeNull();
    expect(classifyKvPut({ code: 200, body: '{"ok":false}' })?.[0]).toBe('HTTP 200 without {"ok":true}');
    expect(classifyKvPut({ code: 200, body: '{"header":{}}' })?.[0]).toBe('HTTP 200 without {"ok":true}');
    expect(classifyKvPut({ code: 503, body: '{"error":"unavailable"}' })?.[0]).toBe('HTTP 503 unavailable');
  });
});
