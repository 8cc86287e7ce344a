/**
 * Takes the demo's screenshot for docs/browser.md: the page under a little
 * load while its primary is crashed and restarted, so that the diagram
 * shows a view change.
 *
 *   npx tsx packages/browser/scripts/screenshot.ts [out.png]   (default docs/browser-demo.png)
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fault, openDemo, primaryOf, request, runLoad, waitForRows } from '../test/chromium/page.js';
import { launchChromium } from '../test/chromium/support.js';
import { buildDemo } from './build-demo.js';
import { startStaticServer } from './serve.js';

const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

async function main(): Promise<void> {
  const outFile = resolve(process.argv[2] ?? join(repoDir, 'docs', 'browser-demo.png'));
  const server = await startStaticServer({ rootDir: await buildDemo(mkdtempSync(join(tmpdir(), 'vsr-shot-build-'))) });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 820 } });
    await openDemo(page, server);
    await request(page, { type: 'write', key: 'greeting', value: 'hello' });
    const primary = primaryOf(await waitForRows(page, 'a primary', (now) => primaryOf(now) !== null))!;
    const load = runLoad(page, { clients: 2, durationMs: 3_500, readShare: 0.4 });
    await page.waitForTimeout(800);
    await fault(page, 'crash', primary);
    await waitForRows(page, 'a new primary', (now) => primaryOf(now) !== null && primaryOf(now) !== primary);
    await page.waitForTimeout(700);
    await fault(page, 'restart', primary);
    await load;
    await page.selectOption('select[name=action]', 'get');
    await page.click('#send');
    await page.waitForTimeout(1_200);
    await page.screenshot({ path: outFile, fullPage: true });
    console.log(`wrote ${outFile}`);
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
