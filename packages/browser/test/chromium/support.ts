/**
 * Real Chromium for the browser tests and the benchmark: Debian's `chromium`
 * package driven by playwright-core (which ships no browser of its own).
 *
 * `ensureChromium()` finds /usr/bin/chromium and, when it is missing and we
 * are root, installs it with apt-get; otherwise it fails saying what to
 * install and how. Every launch uses the flags this kind of machine needs
 * (no sandbox as root, no GPU, no background traffic to Google's services)
 * and a fresh profile, unless a test asks for a persistent one to keep its
 * IndexedDB across a relaunch.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** The flags every launch passes; without --no-sandbox Chromium refuses to start as root. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let installAttempted = false;

function installHint(reason: string): string {
  return (
    `Chromium is needed for the browser tests and was not found at ${CHROMIUM_PATH} (${reason}). ` +
    'Install Debian\'s package as root: `apt-get update && apt-get install -y chromium`.'
  );
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * The path of a usable Chromium, installing Debian's package first when it is
 * missing and we may (root). apt-get update runs at most once per process.
 */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  if (!isRoot()) throw new Error(installHint('not running as root, so the tests cannot install it'));
  if (!installAttempted) {
    installAttempted = true;
    try {
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 300_000 });
      execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 600_000 });
    } catch (error) {
      throw new Error(installHint(`apt-get failed: ${error instanceof Error ? error.message : String(error)}`), { cause: error });
    }
  }
  if (!existsSync(CHROMIUM_PATH)) throw new Error(installHint('apt-get ran but did not install it'));
  return CHROMIUM_PATH;
}

/** A headless Chromium with a fresh, throw-away profile. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: ensureChromium(), args: [...CHROMIUM_ARGS], headless: true });
}

/** A profile that outlives one launch: open it again with `relaunch()`, remove it with `dispose()`. */
export interface PersistentProfile {
  readonly userDataDir: string;
  readonly context: BrowserContext;
  /** Closes the browser (as a crash would for a page: nothing more is written) and opens the same profile again. */
  relaunch(): Promise<PersistentProfile>;
  dispose(): Promise<void>;
}

/** A Chromium whose profile directory (and so its IndexedDB) survives closing it, for reload and relaunch tests. */
export async function launchPersistentChromium(userDataDir = mkdtempSync(join(tmpdir(), 'vsr-chromium-'))): Promise<PersistentProfile> {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: ensureChromium(),
    args: [...CHROMIUM_ARGS],
    headless: true,
  });
  return {
    userDataDir,
    context,
    relaunch: async () => {
      await context.close();
      return launchPersistentChromium(userDataDir);
    },
    dispose: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
