/**
 * The key-value service as real processes on 127.0.0.1: three `vsr-kv serve`
 * children started by the test, driven over HTTP.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { openSync, readFileSync, statSync, truncateSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { checkLinearizability } from '@vsr/simulator';
import type { KvOperation } from '@vsr/kv';
import { HttpHistory } from '../src/history.js';
import { http, primaryOf, status, testCluster, waitFor, type TestCluster } from './support.js';

const JSON_BODY = { 'content-type': 'application/json' };

let cluster: TestCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

describe('vsr-kv cluster', () => {
  test('three replicas serve writes and reads through every replica', async () => {
    cluster = await testCluster();
    const c = cluster;
    for (let writer = 0; writer < 3; writer++) {
      expect(await http('PUT', `${c.url(writer)}/kv/key-${writer}`, `value from ${writer}`)).toEqual({ status: 200, body: { ok: true } });
    }
    for (let reader = 0; reader < 3; reader++) {
      for (let writer = 0; writer < 3; writer++) {
        expect(await http('GET', `${c.url(reader)}/kv/key-${writer}`)).toEqual({ status: 200, body: { key: `key-${writer}`, value: `value from ${writer}` } });
      }
    }
    // JSON values, compare-and-set, delete, absent keys.
    expect((await http('PUT', `${c.url(1)}/kv/n`, '41', { 'content-type': 'application/json' })).status).toBe(200);
    expect(await http('POST', `${c.url(2)}/kv/n/cas`, '{"expected":41,"value":42}', JSON_BODY)).toEqual({ status: 200, body: { ok: true } });
    expect(await http('POST', `${c.url(0)}/kv/n/cas`, '{"expected":41,"value":43}', JSON_BODY)).toEqual({
      status: 409,
      body: { error: 'precondition-failed', key: 'n', expected: 41, actual: 42 },
    });
    expect(await http('GET', `${c.url(0)}/kv/n`)).toEqual({ status: 200, body: { key: 'n', value: 42 } });
    expect(await http('DELETE', `${c.url(2)}/kv/n`)).toEqual({ status: 200, body: { ok: true, existed: true } });
    expect((await http('GET', `${c.url(1)}/kv/n`)).status).toBe(404);
    expect((await http('POST', `${c.url(1)}/kv/n/cas`, '{"expected":1,"value":2}', JSON_BODY)).status).toBe(404);
    expect((await http('GET', `${c.url(1)}/kv/a%2Fb%20c`)).body).toEqual({ error: 'not-found', key: 'a/b c' });

    const statuses = await Promise.all([0, 1, 2].map((id) => status(c.url(id))));
    for (const [id, s] of statuses.entries()) {
      // All agree on the view and its primary (view 0 unless a slow machine made a backup time out).
      expect(s).toMatchObject({ replicaId: id, viewNumber: statuses[0]!.viewNumber, status: 'normal', primary: statuses[0]!.viewNumber % 3, pid: c.replicas[id]!.child.pid });
      expect(s.commitNumber).toBeGreaterThan(0);
    }
    const primary = statuses[0]!.primary;
    const metrics = await c.client.request('GET', `${c.url(primary)}/metrics`);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    const text = metrics.text;
    expect(text).toMatch(/^vsr_commit_number \d+$/m);
    expect(text).toMatch(/^vsr_is_primary 1$/m);
    expect(text).toMatch(/^vsr_telemetry_events_total\{event="vsr.operation.applied"\} \d+$/m);
    // The step that applied ops, timed by the runtime: a histogram with at least one observation.
    expect(text).toMatch(/^vsr_operation_apply_step_duration_seconds_count [1-9]\d*$/m);
    expect(text).toMatch(new RegExp(`^vsr_http_requests_total\\{method="PUT",route="/kv/\\{key\\}",code="200"\\} ${primary === 1 ? 2 : 1}$`, 'm'));
  });

  test('kill -9 of the primary under load: a new primary takes over, no acknowledged write is lost, and the history is linearizable', async () => {
    cluster = await testCluster();
    const c = cluster;
    const history = new HttpHistory(c.client);
    const keys = ['a', 'b', 'c', 'd'];
    let stopAt = Number.POSITIVE_INFINITY;
    let killedAt = Number.POSITIVE_INFINITY;
    const run = (operation: KvOperation, replicaId: number, clientId: string) => history.run(c.url(replicaId), clientId, operation);
    const clients = Array.from({ length: 6 }, async (_, client) => {
      const clientId = `http-${client}`;
      for (let i = 0; performance.now() < stopAt; i++) {
        // Each client sticks to one replica; after the kill, clients of the dead replica move on.
        let replicaId = client % 3;
        if (performance.now() > killedAt && !c.alive(replicaId)) replicaId = (replicaId + 1) % 3;
        const key = keys[(client + i) % keys.length]!;
        const choice = (client * 7 + i * 3) % 10;
        const operation: KvOperation =
          choice < 4 ? { type: 'write', key, value: `${clientId}:${i}` } : choice < 8 ? { type: 'read', key } : { type: 'cas', key, expected: `${clientId}:${i - 1}`, value: `${clientId}:${i}` };
        await run(operation, replicaId, clientId);
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const oldPrimary = await primaryOf(c);
    const before = history.acknowledged;
    killedAt = performance.now();
    await c.kill(oldPrimary);
    // Keep the load on until the new primary has served for a while.
    const newPrimary = await primaryOf(c);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    stopAt = performance.now();
    await Promise.all(clients);

    expect(newPrimary).not.toBe(oldPrimary);
    const acknowledgedAfter = history.operations.filter((op) => op.outcome.type === 'ok' && op.callMs > killedAt).length;
    expect(before).toBeGreaterThan(20);
    expect(acknowledgedAfter).toBeGreaterThan(20);
    // Final reads through every live replica, part of the checked history.
    for (let id = 0; id < 3; id++) {
      if (!c.alive(id)) continue;
      for (const key of keys) await run({ type: 'read', key }, id, `final-${id}`);
    }
    const verdict = checkLinearizability(history.operations);
    expect(verdict.counterexample?.explanation ?? 'linearizable').toBe('linearizable');
    expect(verdict.linearizable).toBe(true);
    // No acknowledged write is lost: the final reads are in the history, so a lost write would
    // make them unexplainable and the history not linearizable. Every operation was checked.
    expect(verdict.operationsChecked).toBe(history.operations.length);

    // The killed primary restarts from its files and catches up with the others.
    await c.restart(oldPrimary);
    const target = await status(c.url(newPrimary));
    await waitFor('the restarted replica to catch up', async () => {
      const s = await status(c.url(oldPrimary));
      return s.status === 'normal' && s.viewNumber === target.viewNumber && s.commitNumber >= target.commitNumber ? s : undefined;
    });
    for (const key of keys) {
      expect(await http('GET', `${c.url(oldPrimary)}/kv/${key}`)).toEqual(await http('GET', `${c.url(newPrimary)}/kv/${key}`));
    }
  });

  test('a replica whose journal tail was torn drops it and catches up; one whose journal is corrupted recovers from its peers', async () => {
    cluster = await testCluster();
    const c = cluster;
    for (let i = 0; i < 20; i++) expect((await http('PUT', `${c.url(i % 3)}/kv/k${i % 4}`, `v${i}`)).status).toBe(200);
    await waitFor('replica 1 and 2 to hold every op', async () => {
      const [one, two] = [await status(c.url(1)), await status(c.url(2))];
      return one.commitNumber >= 20 && two.commitNumber >= 20 ? true : undefined;
    });

    // Replica 2: a torn last record (a crash in the middle of a write).
    await c.kill(2);
    const journal2 = join(c.directory, 'replica-2', 'journal.log');
    truncateSync(journal2, statSync(journal2).size - 3);
    await c.restart(2);
    expect(c.lines.some((line) => line.startsWith('[replica 2]') && /recovering/.test(line))).toBe(false);

    // Replica 1: a flipped byte inside a record in the middle: damage, not a torn write.
    await c.kill(1);
    const journal1 = join(c.directory, 'replica-1', 'journal.log');
    const bytes = readFileSync(journal1);
    const fd = openSync(journal1, 'r+');
    writeSync(fd, Buffer.from([bytes[Math.floor(bytes.length / 2)]! ^ 0xff]), 0, 1, Math.floor(bytes.length / 2));
    closeSync(fd);
    await c.restart(1);
    await waitFor('replica 1 to report the damage', () => (c.lines.some((line) => line.startsWith('[replica 1]') && /checksum|damage|corrupt|cannot be trusted/i.test(line)) ? true : undefined), 5_000);

    for (let i = 20; i < 30; i++) expect((await http('PUT', `${c.url(0)}/kv/k${i % 4}`, `v${i}`)).status).toBe(200);
    const primary = await status(c.url(0));
    for (const id of [1, 2]) {
      await waitFor(`replica ${id} to catch up`, async () => {
        const s = await status(c.url(id));
        return s.status === 'normal' && s.commitNumber >= primary.commitNumber ? s : undefined;
      });
    }
    // Both serve the latest values (reads go through the primary, so also check their own state by /status above).
    for (const id of [1, 2]) expect(await http('GET', `${c.url(id)}/kv/k1`)).toEqual({ status: 200, body: { key: 'k1', value: 'v29' } });
    // The repaired replicas hold the data themselves: with replica 0 gone, 1 and 2 form a majority and still answer.
    await c.kill(0);
    expect(await http('GET', `${c.url(1)}/kv/k2`)).toEqual({ status: 200, body: { key: 'k2', value: 'v26' } });
  });

  test('without a majority a request gets 503 in time, not a hang', async () => {
    cluster = await testCluster({ serveArgs: ['--timeout-ms', '1000'] });
    const c = cluster;
    // A working cluster first (with 1 s per request, a slow start may answer 503 once).
    await waitFor('a first acknowledged write', async () => ((await http('PUT', `${c.url(2)}/kv/k`, 'v')).status === 200 ? true : undefined));
    await c.kill(0);
    await c.kill(1);
    const started = Date.now();
    const answer = await http('PUT', `${c.url(2)}/kv/k`, 'w');
    expect(answer.status).toBe(503);
    expect(String(answer.body['message'])).toMatch(/no reply within 1000 ms.*may or may not have executed/);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
