/**
 * The simulator's HTML report in a real Chromium: its script (report-page/zoom.ts, inlined) runs
 * without an error, opened from disk as a user would, and its controls act: zooming in widens
 * the diagram, "all" fits the whole run, the time inputs follow.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { renderReport, simulate } from '@vsr/simulator';
import { launchChromium } from './support.js';

describe("the simulator's report in Chromium", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser.close();
  });

  test('its script runs, and zoom and the time window act on the diagram', async () => {
    const result = simulate({ seed: 3, replicaCount: 3, clientCount: 3, requests: 150, faults: ['crash', 'network'], trace: true });
    const file = join(mkdtempSync(join(tmpdir(), 'vsr-report-')), 'report.html');
    writeFileSync(file, renderReport(result, { clients: 3, requests: 150 }));
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(pathToFileURL(file).href);
    const width = () => page.evaluate(() => Number(document.getElementById('diagram')?.getAttribute('width')));
    await page.click('#all');
    const fitted = await width();
    expect(await page.inputValue('#from')).toBe('0');
    await page.click('#zin');
    await page.click('#zin');
    expect(await width()).toBeGreaterThan(fitted * 2);
    await page.click('#all');
    expect(await width()).toBe(fitted);
    expect(errors).toEqual([]);
    await page.close();
  });
});
