/**
 * Bundles the browser runtime with esbuild's JS API:
 * (a) `@vsr/core` alone, minified ESM for the browser, to report its size
 *     (minified and gzipped): the cost of the protocol itself on a page;
 * (b) the replica worker's entry, src/worker.ts, as out/browser/worker.js.
 *
 * Why esbuild: it needs no configuration file, builds in milliseconds, and
 * is one dependency the tree already has (tsx runs on it). With platform
 * 'browser', a `node:*` import anywhere in a bundle is a build error (the
 * browser has no Node built-ins), so the build fails rather than ship a
 * bundle that cannot load; `bundleForBrowser` checks the output text as well.
 *
 *   npx tsx packages/browser/scripts/build.ts [outDir]     (default: out/browser at the repository root)
 */
import { build } from 'esbuild';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_OUT_DIR = resolve(packageDir, '../../out/browser');

export interface BuildReport {
  readonly coreFile: string;
  readonly coreBytes: number;
  readonly coreGzipBytes: number;
  readonly workerFile: string;
  readonly workerBytes: number;
}

/** A `node:` module named in bundled code: an import, a dynamic import or a require. */
const NODE_IMPORT = /(?:from\s*|import\s*\(\s*|require\s*\(\s*)["']node:/;

/** Bundles `entry` (a file, or source text) for the browser as one ESM file; fails on any Node built-in. */
export async function bundleForBrowser(entry: { file: string } | { contents: string }, outfile: string, minify: boolean): Promise<string> {
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    ...('file' in entry ? { entryPoints: [entry.file] } : { stdin: { contents: entry.contents, resolveDir: packageDir, loader: 'ts' } }),
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    logLevel: 'silent',
  });
  const text = readFileSync(outfile, 'utf8');
  if (NODE_IMPORT.test(text)) throw new Error(`${outfile}: the bundle imports a node: module, which a browser cannot load`);
  return text;
}

export async function buildBrowser(outDir: string = DEFAULT_OUT_DIR): Promise<BuildReport> {
  const coreFile = join(outDir, 'core.min.js');
  const core = await bundleForBrowser({ contents: "export * from '@vsr/core';" }, coreFile, true);
  const workerFile = join(outDir, 'worker.js');
  const worker = await bundleForBrowser({ file: join(packageDir, 'src/worker.ts') }, workerFile, false);
  return {
    coreFile,
    coreBytes: Buffer.byteLength(core),
    coreGzipBytes: gzipSync(core, { level: 9 }).length,
    workerFile,
    workerBytes: Buffer.byteLength(worker),
  };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const report = await buildBrowser(process.argv[2] === undefined ? DEFAULT_OUT_DIR : resolve(process.argv[2]));
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  console.log(`@vsr/core: ${report.coreFile}: ${kib(report.coreBytes)} minified, ${kib(report.coreGzipBytes)} gzipped`);
  console.log(`worker: ${report.workerFile}: ${kib(report.workerBytes)}`);
}
