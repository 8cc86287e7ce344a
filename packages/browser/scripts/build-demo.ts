/**
 * Builds the demo page: the runtime's bundles first (scripts/build.ts:
 * worker.js and the core's size probe), then the page's script
 * `src/demo/main.ts` bundled the same way (esbuild, ESM for the browser, a
 * build error on any `node:*` import) to demo.js, and the page's HTML and
 * CSS copied beside them.
 *
 *   npx tsx packages/browser/scripts/build-demo.ts [outDir]   (default: out/browser at the repository root)
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleForBrowser, buildBrowser, DEFAULT_OUT_DIR } from './build.js';

const DEMO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'demo');

/** Builds the runtime and the page into `outDir`; resolves with it. */
export async function buildDemo(outDir: string = DEFAULT_OUT_DIR): Promise<string> {
  await buildBrowser(outDir);
  mkdirSync(outDir, { recursive: true });
  await bundleForBrowser({ file: join(DEMO_DIR, 'main.ts') }, join(outDir, 'demo.js'), true);
  for (const file of ['index.html', 'demo.css']) copyFileSync(join(DEMO_DIR, file), join(outDir, file));
  return outDir;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildDemo(process.argv[2] === undefined ? undefined : resolve(process.argv[2])).then(
    (dir) => console.log(`demo built in ${dir}`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
