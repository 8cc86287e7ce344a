/**
 * A/B in one run: the same benchmark on this working tree (B) and on another commit (A, in a
 * git worktree of its own), alternating, so that both see the same machine; prints each
 * figure's median for A and B and the ratio B / A. Absolute figures drift by ±20% here, ratios
 * measured side by side much less.
 *
 *   npx tsx packages/core/bench/ab.ts --against REV [--rounds N] -- BENCH_FILE [bench flags]
 *
 * BENCH_FILE is a path inside the repository whose script accepts `--json` and prints one JSON
 * object as its last line; every number in it (nested in `figures: [...]` rows keyed by their
 * `clients`, or at the top level) is compared. The worktree is made once per commit under the
 * system's temporary folder and installed offline from the pnpm store. The benchmark file itself
 * is this tree's, copied into the worktree, so one driver measures both versions of the code.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const PNPM = ['-y', 'pnpm@12.21.0'];

function usage(message: string): never {
  console.error(`ab: ${message}\nusage: npx tsx packages/core/bench/ab.ts --against REV [--rounds N] -- BENCH_FILE [bench flags]`);
  process.exit(2);
}

function worktreeFor(repository: string, revision: string): string {
  const commit = execFileSync('git', ['-C', repository, 'rev-parse', '--verify', `${revision}^{commit}`], { encoding: 'utf8' }).trim();
  const directory = join(tmpdir(), 'vsr-ab', commit.slice(0, 12));
  if (!existsSync(directory)) {
    execFileSync('git', ['-C', repository, 'worktree', 'add', '--detach', directory, commit], { stdio: 'inherit' });
  }
  if (!existsSync(join(directory, 'node_modules'))) {
    execFileSync('npx', [...PNPM, 'install', '--frozen-lockfile', '--offline', '--reporter=silent'], { cwd: directory, stdio: 'inherit' });
  }
  return directory;
}

/** Every number in the bench's JSON, by a path such as `figures[clients=64].committedPerSecond`. */
function numbers(value: unknown, path = ''): Map<string, number> {
  const found = new Map<string, number>();
  if (typeof value === 'number') found.set(path, value);
  else if (Array.isArray(value)) {
    value.forEach((item, index) => {
      const key = item !== null && typeof item === 'object' && 'clients' in item ? `clients=${String((item as { clients: unknown }).clients)}` : String(index);
      for (const [inner, number] of numbers(item, `${path}[${key}]`)) found.set(inner, number);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [field, item] of Object.entries(value)) for (const [inner, number] of numbers(item, path === '' ? field : `${path}.${field}`)) found.set(inner, number);
  }
  return found;
}

function runOnce(root: string, bench: string, flags: readonly string[]): Map<string, number> {
  const run = spawnSync('npx', ['tsx', join(root, bench), ...flags, '--json'], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`${bench} in ${root} exited ${run.status}: ${run.stderr.slice(-2000)}`);
  const last = run.stdout.trim().split('\n').at(-1) ?? '';
  return numbers(JSON.parse(last));
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

function main(): void {
  const separator = process.argv.indexOf('--');
  if (separator < 0 || separator === process.argv.length - 1) usage('give the benchmark after --');
  const { values } = parseArgs({ args: process.argv.slice(2, separator), options: { against: { type: 'string' }, rounds: { type: 'string' } } });
  if (values.against === undefined) usage('--against REV is required');
  const rounds = Number(values.rounds ?? 3);
  if (!Number.isSafeInteger(rounds) || rounds < 1) usage(`--rounds: expected a positive integer, got ${values.rounds}`);
  const [bench, ...flags] = process.argv.slice(separator + 1) as [string, ...string[]];
  const repository = resolve(execFileSync('git', ['rev-parse', '--show-toplevel'], { encoding: 'utf8' }).trim());
  const baseline = worktreeFor(repository, values.against);
  // The same driver measures both: this tree's benchmark file, run against each tree's code.
  mkdirSync(dirname(join(baseline, bench)), { recursive: true });
  copyFileSync(join(repository, bench), join(baseline, bench));
  const runs: Record<'a' | 'b', Array<Map<string, number>>> = { a: [], b: [] };
  for (let round = 0; round < rounds; round++) {
    runs.a.push(runOnce(baseline, bench, flags));
    runs.b.push(runOnce(repository, bench, flags));
    console.error(`round ${round + 1} of ${rounds} done`);
  }
  console.log(`${bench} ${flags.join(' ')}: A = ${values.against}, B = this working tree; medians of ${rounds} alternating rounds`);
  for (const key of runs.b[0]?.keys() ?? []) {
    const a = median(runs.a.map((run) => run.get(key) ?? NaN));
    const b = median(runs.b.map((run) => run.get(key) ?? NaN));
    console.log(`${key.padEnd(48)} A ${a.toLocaleString('en-US').padStart(12)}  B ${b.toLocaleString('en-US').padStart(12)}  B/A ${(b / a).toFixed(2)}`);
  }
}

main();
