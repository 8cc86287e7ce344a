/**
 * The demo page in real Chromium (Debian's, driven by playwright-core): the
 * scenarios of the browser interpreter, end to end, through the page that
 * `npm run demo:browser` serves. Each test has a browser context of its own,
 * so a fresh origin storage (IndexedDB, localStorage) and channels.
 *
 * No timing is asserted: waits are polls with generous deadlines.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkHistory, fromSimulatorHistory, kvModel } from '@vsr/simulator';
import { replicaDatabaseName } from '../../src/storage.js';
import type { StaticServer } from '../../scripts/serve.js';
import { boots, fault, history, openDemo, primaryOf, refusals, request, rows, serveDemo, waitForRows } from './page.js';
import { launchChromium, launchPersistentChromium } from './support.js';
import type { DemoHook } from '../../src/demo/main.js';

type HookWindow = Window & { vsrDemo: DemoHook; loadUnderway?: ReturnType<DemoHook['runLoad']> };

let server: StaticServer;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  server = await serveDemo();
  browser = await launchChromium();
}, 600_000); // the first run may install Chromium (apt-get) and builds the bundles

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close();
  await server?.close();
});

async function freshPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  return context.newPage();
}

const allNormal = (current: Awaited<ReturnType<typeof rows>>) => current.every((row) => row.status === 'normal') && primaryOf(current) !== null;

/** Submits the page's form and waits for its result line to change. */
async function submit(page: Page, fields: { action: string; key: string; value?: string; expected?: string }): Promise<string> {
  await page.selectOption('select[name=action]', fields.action);
  await page.fill('input[name=key]', fields.key);
  if (fields.value !== undefined) await page.fill('input[name=value]', fields.value);
  if (fields.expected !== undefined) await page.fill('input[name=expected]', fields.expected);
  const before = await page.textContent('#kv-log');
  await page.click('#send');
  await page.waitForFunction((previous) => document.getElementById('kv-log')!.textContent !== previous, before);
  return (await page.textContent('#kv-result')) ?? '';
}

describe('the demo page in Chromium', { timeout: 40_000 }, () => {
  test('writes and reads through the page: the form, the result, the table', async () => {
    const page = await freshPage();
    await openDemo(page, server);
    expect(await submit(page, { action: 'put', key: 'greeting', value: 'hello' })).toBe('put "greeting": ok');
    expect(await submit(page, { action: 'get', key: 'greeting' })).toBe('get "greeting": value "hello"');
    expect(await submit(page, { action: 'cas', key: 'greeting', expected: 'hello', value: '42' })).toBe('cas "greeting": ok');
    expect(await submit(page, { action: 'cas', key: 'greeting', expected: 'hello', value: 'x' })).toBe('cas "greeting": precondition failed: the value is 42');
    expect(await submit(page, { action: 'get', key: 'greeting' })).toBe('get "greeting": value 42');
    expect(await submit(page, { action: 'delete', key: 'greeting' })).toBe('delete "greeting": deleted');
    expect(await submit(page, { action: 'get', key: 'greeting' })).toBe('get "greeting": not found');
    // The codec refuses an empty key before anything is sent.
    expect(await submit(page, { action: 'get', key: '' })).toMatch(/^refused: operation/);
    // The table: three replicas, one primary, all normal, and the seven ops (after the client's registration) in every log.
    const current = await waitForRows(page, 'every replica holds the ops', (now) => allNormal(now) && now.every((row) => row.opNumber === 8));
    expect(current.map((row) => row.replicaId)).toEqual([0, 1, 2]);
    expect(await page.locator('#replica-rows tr').count()).toBe(3);
    await page.waitForFunction(() => document.querySelectorAll('#diagram-host .msg').length > 0);
  });

  test('terminating the primary under load: a new primary takes over, no acknowledged write is lost, the history is linearizable', async () => {
    const page = await freshPage();
    await openDemo(page, server);
    const oldPrimary = primaryOf(await waitForRows(page, 'a primary', allNormal))!;
    await page.evaluate(() => {
      const w = window as unknown as HookWindow;
      w.loadUnderway = w.vsrDemo.runLoad({ clients: 4, durationMs: 5_000, readShare: 0.3, casShare: 0.2, sharedKeys: 3 });
    });
    await page.waitForTimeout(1_500);
    const crashAtMs = await page.evaluate(() => performance.now());
    await fault(page, 'crash', oldPrimary);
    const after = await waitForRows(page, 'a new primary', (now) => {
      const primary = primaryOf(now);
      return primary !== null && primary !== oldPrimary && now.filter((row) => row.status === 'normal').length === 2;
    });
    expect(after.find((row) => row.replicaId === oldPrimary)?.status).toBe('down');
    const load = await page.evaluate(() => (window as unknown as HookWindow).loadUnderway!);
    expect(load.writesAnswered).toBeGreaterThan(0);

    const ops = await history(page);
    expect(ops.some((op) => op.callMs > crashAtMs && op.outcome.type === 'ok')).toBe(true);
    // Every acknowledged write is there: each client's key holds at least the last value acknowledged.
    for (const [key, value] of Object.entries(load.acknowledged)) {
      const read = await request(page, { type: 'read', key });
      expect(read.ok && 'value' in read ? read.value : null, key).toBeGreaterThanOrEqual(value);
    }
    const verdict = checkHistory(kvModel, fromSimulatorHistory(await history(page)));
    expect(verdict.verdict, 'explanation' in verdict ? verdict.explanation : '').toBe('linearizable');
  });

  test('reloading the page, and relaunching the browser: all committed data is still there', async () => {
    const page = await freshPage();
    await openDemo(page, server);
    for (let i = 0; i < 10; i++) expect(await request(page, { type: 'write', key: `k${i}`, value: i * 11 })).toEqual({ ok: true });
    await page.reload();
    await openDemo(page, server);
    for (let i = 0; i < 10; i++) expect(await request(page, { type: 'read', key: `k${i}` })).toEqual({ ok: true, value: i * 11 });
    expect((await boots(page)).map((boot) => boot.boot)).toEqual(['restored', 'restored', 'restored']);

    // A browser process that goes away and comes back: the databases are on disk.
    let profile = await launchPersistentChromium();
    try {
      let tab = await profile.context.newPage();
      await openDemo(tab, server);
      expect(await request(tab, { type: 'write', key: 'durable', value: 'yes' })).toEqual({ ok: true });
      profile = await profile.relaunch();
      tab = await profile.context.newPage();
      await openDemo(tab, server);
      expect(await request(tab, { type: 'read', key: 'durable' })).toEqual({ ok: true, value: 'yes' });
    } finally {
      await profile.dispose();
    }
  });

  test('a corrupted IndexedDB record: that replica recovers from its peers', async () => {
    const page = await freshPage();
    await openDemo(page, server);
    for (let i = 0; i < 8; i++) await request(page, { type: 'write', key: `c${i}`, value: `v${i}` });
    const settled = await waitForRows(page, 'every replica commits', (now) => allNormal(now) && now.every((row) => row.commitNumber === now[0]!.commitNumber));
    const primary = primaryOf(settled)!;
    const [victim, bystander] = [0, 1, 2].filter((id) => id !== primary) as [number, number];
    await fault(page, 'crash', victim);
    const corrupted = await page.evaluate(corruptOneRecord, replicaDatabaseName(1, victim));
    expect(corrupted).toMatch(/^(log|meta) /);
    await fault(page, 'restart', victim);
    await waitForRows(page, 'the victim recovers', (now) => now[victim]!.status === 'normal' && now[victim]!.commitNumber! >= settled[0]!.commitNumber!);
    const victimBoots = (await boots(page)).filter((boot) => boot.replicaId === victim);
    expect(victimBoots.at(-1)?.boot).toBe('lost');
    expect(victimBoots.at(-1)?.damage).toMatch(/checksum|damaged|record/i);
    // With the bystander down, every commit needs the victim: it holds what it recovered.
    await fault(page, 'crash', bystander);
    for (let i = 0; i < 8; i++) expect(await request(page, { type: 'read', key: `c${i}` })).toEqual({ ok: true, value: `v${i}` });
    expect(await request(page, { type: 'write', key: 'after', value: 1 })).toEqual({ ok: true });
  });

  test('the three-tab cluster (BroadcastChannel) survives closing one tab', async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const tabs = await Promise.all([0, 1, 2].map(() => context.newPage()));
    await Promise.all(tabs.map((tab, replicaId) => openDemo(tab, server, `?mode=tabs&replica=${replicaId}`)));
    const before = await waitForRows(tabs[0]!, 'three tabs form a cluster', allNormal);
    expect(await request(tabs[0]!, { type: 'write', key: 'tab', value: 'one' })).toEqual({ ok: true });
    const primary = primaryOf(before)!;
    await tabs[primary]!.close();
    const survivor = tabs[(primary + 1) % 3]!;
    expect(await request(survivor, { type: 'write', key: 'tab2', value: 'two' })).toEqual({ ok: true });
    expect(await request(survivor, { type: 'read', key: 'tab' })).toEqual({ ok: true, value: 'one' });
    const after = await waitForRows(survivor, 'the closed tab shows as down', (now) => now[primary]!.status === 'down' && primaryOf(now) !== null);
    expect(primaryOf(after)).not.toBe(primary);
  });

  test('malformed messages posted on the channels are refused, and the cluster serves', async () => {
    const page = await freshPage();
    await openDemo(page, server);
    await page.evaluate(injectGarbage, 'workers' as const);
    const frameReasons = ['not-a-string', 'not-json', 'too-deep', 'frame-too-large', 'bad-frame', 'unexpected-frame'];
    const reasonsOf = (refused: Awaited<ReturnType<typeof refusals>>, replicaId: number) => new Set(refused.filter((r) => r.replicaId === replicaId).map((r) => r.reason));
    const refused = await pollRefusals(page, (now) => [0, 1, 2].every((id) => frameReasons.every((reason) => reasonsOf(now, id).has(reason))) && now.filter((r) => r.reason === 'bad-command').length === 3);
    for (const replicaId of [0, 1, 2]) expect([...reasonsOf(refused, replicaId)]).toEqual(expect.arrayContaining(frameReasons));
    expect(refused.filter((r) => r.reason === 'bad-command').map((r) => r.replicaId)).toEqual([1, 1, 1]);
    expect(refused.every((r) => r.detail.length > 0)).toBe(true);
    expect(await request(page, { type: 'write', key: 'still', value: 'serving' })).toEqual({ ok: true });
    expect(await request(page, { type: 'read', key: 'still' })).toEqual({ ok: true, value: 'serving' });

    // The tabs' BroadcastChannel: any script of the origin can post on it, peer frames included.
    const context = await browser.newContext();
    contexts.push(context);
    const tabs = await Promise.all([0, 1, 2].map(() => context.newPage()));
    await Promise.all(tabs.map((tab, replicaId) => openDemo(tab, server, `?mode=tabs&replica=${replicaId}`)));
    await waitForRows(tabs[0]!, 'three tabs form a cluster', allNormal);
    await tabs[0]!.evaluate(injectGarbage, 'tabs' as const);
    for (const tab of tabs) {
      const seen = await pollRefusals(tab, (now) => ['not-a-string', 'not-json', 'too-deep', 'bad-frame'].every((reason) => now.some((r) => r.reason === reason)));
      expect(seen.map((r) => r.reason)).toEqual(expect.arrayContaining(['not-a-string', 'not-json', 'too-deep', 'bad-frame']));
    }
    expect(await request(tabs[1]!, { type: 'write', key: 'still', value: 'serving' })).toEqual({ ok: true });
    expect(await request(tabs[2]!, { type: 'read', key: 'still' })).toEqual({ ok: true, value: 'serving' });
  });
});

/** The page's refusals once `enough` holds of them (or after 10 s: the expectations then say what is missing). */
async function pollRefusals(page: Page, enough: (now: Awaited<ReturnType<typeof refusals>>) => boolean): Promise<Awaited<ReturnType<typeof refusals>>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const now = await refusals(page);
    if (enough(now) || Date.now() > deadline) return now;
    await page.waitForTimeout(100);
  }
}

/** In the page: damages one record of a database (its text changes, its checksum does not). Returns which. */
async function corruptOneRecord(databaseName: string): Promise<string> {
  const database = await new Promise<IDBDatabase>((resolve, reject) => {
    const open = indexedDB.open(databaseName);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error ?? new Error(`could not open ${databaseName}`));
  });
  const done = (request: IDBRequest) => new Promise<unknown>((resolve, reject) => ((request.onsuccess = () => resolve(request.result)), (request.onerror = () => reject(request.error ?? new Error('request failed')))));
  try {
    for (const [store, key] of [['log', null], ['meta', 'header']] as const) {
      const transaction = database.transaction(store, 'readwrite');
      const objects = transaction.objectStore(store);
      const keys = (await done(objects.getAllKeys())) as IDBValidKey[];
      const target = key ?? keys[Math.floor(keys.length / 2)];
      if (target === undefined || !keys.includes(target)) continue;
      const record = (await done(objects.get(target))) as { checksum: number; json: string };
      await done(objects.put({ checksum: record.checksum, json: record.json.replace(/\d/, (d) => String((Number(d) + 1) % 10)) }, target));
      await new Promise((resolve) => (transaction.oncomplete = resolve));
      return `${store} ${JSON.stringify(target)}`;
    }
    return 'nothing to corrupt';
  } finally {
    database.close();
  }
}

/** In the page: posts malformed input on every channel a replica listens to. */
function injectGarbage(mode: 'workers' | 'tabs'): void {
  const cluster = (window as unknown as HookWindow).vsrDemo.cluster!;
  const deep = `${'['.repeat(200)}${']'.repeat(200)}`;
  const frames: unknown[] = [
    { not: 'a string' },
    'not json {',
    deep,
    'x'.repeat(3 * 1024 * 1024),
    JSON.stringify({ kind: 'nonsense' }),
    JSON.stringify({ kind: 'peer', from: 1, to: 0, id: 1, message: { type: 'prepare', viewNumber: -1 } }),
    JSON.stringify({ kind: 'peer', from: 7, to: 0, id: 1, message: { type: 'commit', replica: 7, viewNumber: 0, commitNumber: 0 } }),
    JSON.stringify({ kind: 'request', from: 'link-x', to: 0, request: { clientId: 5 } }),
  ];
  for (const replicaId of mode === 'workers' ? [0, 1, 2] : [0]) {
    for (const frame of frames) cluster.inject.clientFrame(replicaId, frame);
  }
  if (mode === 'workers') {
    for (const command of [42, { type: 'launch-missiles' }, { type: 'block-peers', peerIds: ['all'] }]) cluster.inject.workerCommand(1, command);
  }
}
