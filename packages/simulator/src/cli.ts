/**
 * `npm run sim -- <flags>`: run seeds, print what happened, exit non-zero on
 * any violation with the command that replays it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs as parseFlags, type ParseArgsConfig } from 'node:util';
import { UsageError, integerFlag } from '@vsr/core/cli-flags';
import { parseFaults, type FaultName } from './faults.js';
import { simulate, type SimulationResult, type SimulationSummary } from './simulation.js';
import type { StateMachine } from '@vsr/core';
import type { Model, Workload } from './model.js';
import { toModelOperations } from './world/model-check.js';
import { renderReport } from './report.js';
import { fromSimulatorHistory } from './check/from-simulator.js';
import { kvToJepsen, writeEdnHistory, writeJsonHistory } from './check/history-write.js';

// Where it was first defined, for the users who import it from here.
export { UsageError };

export interface CliOptions {
  seed: number;
  seeds: number;
  replicas: number[];
  clients: number;
  requests: number;
  faults: FaultName[];
  json: boolean;
  trace: string | null;
  history: string | null;
  /** The same history in the checker's formats (`npm run lincheck -- FILE --model kv`). */
  historyEdn: string | null;
  historyJson: string | null;
  html: string | null;
  quiet: boolean;
  /** A module exporting `service = { machine, workload, model }`: the user's own service instead of the key-value one. */
  service: string | null;
  /** How reads travel: through the log, without it, or each either way (SimulationOptions.reads). */
  reads: 'log' | 'direct' | 'mixed';
}

/** The user's service, as `--service` loads it. */
export interface Service {
  readonly machine: StateMachine;
  readonly workload: Workload<unknown, unknown>;
  readonly model: Model<unknown, unknown, unknown>;
}

const USAGE = `usage: npm run sim -- [flags]
  --seed N            first seed (default 1)
  --seeds K           run seeds N .. N+K-1 (default 1)
  --replicas 3|5|..   cluster size; a comma list runs each seed on each size (default 3)
  --clients C         concurrent clients (default 4)
  --requests R        client requests per seed (default 1000)
  --faults LIST       comma list of none, network, crash, partition, clock, swarm, all (default swarm)
  --reads MODE        log: reads are operations through the log (default); direct: reads the
                      primary answers without the log, after confirming its view with a quorum;
                      mixed: each read either way at random (for machines that answer queries)
  --json              one JSON object per seed on its own line
  --trace FILE.jsonl  every event of one seed (the first with a violation, else the first with a view change)
  --history FILE.json that seed's client history, as the simulator records it
  --history-edn FILE.edn   that history as a Jepsen EDN history, for npm run lincheck -- FILE.edn --model kv
  --history-json FILE.json that history in the checker's JSON format, for npm run lincheck -- FILE.json --model kv
  --html FILE.html    that seed's space-time diagram
  --service FILE      simulate your own service: a module (.ts or .js) exporting
                      service = { machine, workload, model } (a StateMachine, a Workload
                      and a Model of @vsr/simulator); the default is the key-value service
  --quiet             no progress bar or table`;

/** The flags, for `node:util`'s parser; what each means is in USAGE and `applyFlag`. */
const FLAGS = {
  seed: { type: 'string' },
  seeds: { type: 'string' },
  replicas: { type: 'string' },
  clients: { type: 'string' },
  requests: { type: 'string' },
  faults: { type: 'string' },
  json: { type: 'boolean' },
  trace: { type: 'string' },
  history: { type: 'string' },
  'history-edn': { type: 'string' },
  'history-json': { type: 'string' },
  html: { type: 'string' },
  service: { type: 'string' },
  reads: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

type FlagName = keyof typeof FLAGS;

export function parseArgs(argv: readonly string[]): CliOptions {
  const options: CliOptions = {
    seed: 1,
    seeds: 1,
    replicas: [3],
    clients: 4,
    requests: 1000,
    faults: ['swarm'],
    json: false,
    trace: null,
    history: null,
    historyEdn: null,
    historyJson: null,
    html: null,
    quiet: false,
    service: null,
    reads: 'log',
  };
  // Not strict: the tokens come back as given, and the loop below refuses what it must in the order
  // given, with this tool's messages (a negative --seed, "-5", is a value here, not a flag).
  const { tokens } = parseFlags({ args: [...argv], options: FLAGS, strict: false, allowPositionals: true, tokens: true });
  for (const token of tokens) {
    const given = argv[token.index] ?? '';
    if (token.kind !== 'option' || !Object.hasOwn(FLAGS, token.name) || (token.rawName.length === 2 && given !== token.rawName)) {
      // A positional, `--`, an unknown flag, or a group of short flags (-hx).
      throw new UsageError(`unknown flag '${given}'`);
    }
    const name = token.name as FlagName;
    if (FLAGS[name].type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`unknown flag '${given}'`);
      applySwitch(options, name);
      continue;
    }
    const value = token.value;
    if (value === undefined || (token.inlineValue === false && value.startsWith('--'))) {
      throw new UsageError(`${token.rawName}: expected a value`);
    }
    applyFlag(options, name, value);
  }
  return options;
}

function applySwitch(options: CliOptions, name: FlagName): void {
  if (name === 'help') throw new UsageError('');
  if (name === 'json') options.json = true;
  if (name === 'quiet') options.quiet = true;
}

function applyFlag(options: CliOptions, name: FlagName, value: string): void {
  const flag = `--${name}`;
  switch (name) {
    case 'seed':
      options.seed = integerFlag(value, flag, { min: -0x8000_0000, max: 0x7fff_ffff });
      return;
    case 'seeds':
      options.seeds = integerFlag(value, flag, { min: 1, max: 1_000_000 });
      return;
    case 'replicas':
      options.replicas = value.split(',').map((part) => integerFlag(part, flag, { min: 1, max: 15 }));
      return;
    case 'clients':
      options.clients = integerFlag(value, flag, { min: 1, max: 1000 });
      return;
    case 'requests':
      options.requests = integerFlag(value, flag, { min: 0, max: 10_000_000 });
      return;
    case 'faults':
      try {
        options.faults = parseFaults(value);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      return;
    case 'trace':
    case 'history':
    case 'html':
    case 'service':
      options[name] = value;
      return;
    case 'reads':
      if (value !== 'log' && value !== 'direct' && value !== 'mixed') throw new UsageError(`--reads: expected log, direct or mixed, got '${value}'`);
      options.reads = value;
      return;
    case 'history-edn':
      options.historyEdn = value;
      return;
    case 'history-json':
      options.historyJson = value;
      return;
    default:
      return;
  }
}

export function replayCommand(summary: Pick<SimulationSummary, 'seed' | 'replicas' | 'faults'>, options: CliOptions): string {
  const service = options.service === null ? '' : ` --service ${options.service}`;
  const reads = options.reads === 'log' ? '' : ` --reads ${options.reads}`;
  return `npm run sim -- --seed ${summary.seed} --replicas ${summary.replicas} --faults ${summary.faults} --clients ${options.clients} --requests ${options.requests}${reads}${service}`;
}

/** A run's result: of the key-value service, or (with `--service`) of the user's, whose operations are the user's own. */
function run(options: CliOptions, service: Service | undefined, seed: number, replicas: number, trace: boolean): SimulationResult<unknown, unknown> {
  return simulate({ seed, replicaCount: replicas, clientCount: options.clients, requests: options.requests, faults: options.faults, reads: options.reads, trace, ...service });
}

/**
 * Imports `--service FILE` (relative to the directory `npm run` was started from) and checks
 * that it exports `service` with a machine, a workload and a model; refuses with a UsageError
 * naming what is missing.
 */
export async function loadService(file: string): Promise<Service> {
  const path = resolve(process.env.INIT_CWD ?? process.cwd(), file);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`--service ${file}: cannot import ${path}: ${(error as Error).message}`);
  }
  const service = (module.service ?? (module.default as Record<string, unknown> | undefined)?.service ?? module.default) as Record<string, unknown> | undefined;
  const problem = serviceProblem(service);
  if (problem !== null) throw new UsageError(`--service ${file}: ${problem}`);
  return service as unknown as Service;
}

function serviceProblem(service: Record<string, unknown> | undefined): string | null {
  if (service === undefined || service === null || typeof service !== 'object') return 'the module exports no `service` object ({ machine, workload, model })';
  const has = (name: string, fields: readonly string[]): string | null => {
    const part = service[name] as Record<string, unknown> | undefined;
    if (part === undefined || part === null || typeof part !== 'object') return `service.${name} is missing`;
    const missing = fields.filter((field) => part[field] === undefined);
    return missing.length > 0 ? `service.${name} lacks ${missing.join(', ')}` : null;
  };
  return has('machine', ['name', 'operation', 'init', 'apply', 'snapshot', 'restore']) ?? has('workload', ['name', 'next']) ?? has('model', ['name', 'init', 'step', 'stateKey']);
}

/** `npm run sim`'s entry: loads `--service` (an import is asynchronous), then runs `main`. */
export async function mainWithService(argv: readonly string[]): Promise<number> {
  let service: Service | undefined;
  try {
    const file = parseArgs(argv).service;
    if (file !== null) service = await loadService(file);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    if (error.message) console.error(`vsr-sim: ${error.message}`);
    console.error(USAGE);
    return error.message ? 2 : 0;
  }
  return main(argv, service);
}

export function main(argv: readonly string[], service?: Service): number {
  let options: CliOptions;
  try {
    options = parseArgs(argv);
    if (options.service !== null && service === undefined) throw new UsageError('--service: load it first (mainWithService, as npm run sim does)');
    if (service !== undefined && options.historyEdn !== null) throw new UsageError('--history-edn: EDN histories are written for the key-value service only; use --history-json');
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    if (error.message) console.error(`vsr-sim: ${error.message}`);
    console.error(USAGE);
    return error.message ? 2 : 0;
  }
  const runs = options.seeds * options.replicas.length;
  const showProgress = !options.json && !options.quiet && process.stderr.isTTY === true && runs > 1;
  const summaries: SimulationSummary[] = [];
  let done = 0;
  for (let seed = options.seed; seed < options.seed + options.seeds; seed++) {
    for (const replicas of options.replicas) {
      const { summary } = run(options, service, seed, replicas, false);
      summaries.push(summary);
      done++;
      if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      if (showProgress) progress(done, runs, summaries);
    }
  }
  if (showProgress) process.stderr.write('\n');

  const failing = summaries.filter((summary) => summary.violations.length > 0);
  const chosen = failing[0] ?? summaries.find((summary) => summary.view_changes > 0) ?? summaries[0]!;
  const files = [options.trace, options.history, options.historyEdn, options.historyJson, options.html].filter((file) => file !== null);
  if (files.length > 0) {
    // Re-run the chosen seed with tracing: the same seed gives the same run.
    const result = run(options, service, chosen.seed, chosen.replicas, true);
    if (result.summary.trace_digest !== chosen.trace_digest) {
      console.error(`vsr-sim: seed ${chosen.seed} did not replay identically (digest ${result.summary.trace_digest} vs ${chosen.trace_digest})`);
      return 1;
    }
    writeSeedFiles(options, result);
    if (!options.json && !options.quiet) {
      const what = files.join(', ');
      console.log(`seed ${chosen.seed} (${chosen.replicas} replicas, ${chosen.view_changes} view changes${chosen.violations.length > 0 ? ', VIOLATION' : ''}) written to ${what}`);
    }
  }
  if (!options.json && !options.quiet) console.log(table(summaries));
  for (const summary of failing) {
    console.error(`\nseed ${summary.seed} (${summary.replicas} replicas) violated:`);
    for (const violation of summary.violations) console.error(`  - ${violation}`);
    console.error(`replay: ${replayCommand(summary, options)}`);
  }
  return failing.length > 0 ? 1 : 0;
}

/** The files a seed is written to: its trace, its history (as recorded, and in the checker's two formats), its report. */
function writeSeedFiles(options: CliOptions, result: SimulationResult<unknown, unknown>): void {
  const kvResult = result as SimulationResult;
  if (options.trace !== null) writeOut(options.trace, result.trace.map((event) => JSON.stringify(event)).join('\n') + '\n');
  if (options.history !== null) writeOut(options.history, JSON.stringify(result.history, null, 1));
  if (options.historyEdn !== null) writeOut(options.historyEdn, writeEdnHistory(fromSimulatorHistory(kvResult.history), kvToJepsen));
  if (options.historyJson !== null) {
    const history = options.service === null ? fromSimulatorHistory(kvResult.history) : toModelOperations(result.history);
    writeOut(options.historyJson, writeJsonHistory<unknown, unknown>(history));
  }
  // The report shows operations as JSON, whatever the service.
  if (options.html !== null) writeOut(options.html, renderReport(kvResult, { clients: options.clients, requests: options.requests }));
}

function writeOut(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

function progress(done: number, total: number, summaries: readonly SimulationSummary[]): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const violations = summaries.filter((summary) => summary.violations.length > 0).length;
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} runs, ${violations} with violations`);
}

/** One row per cluster size, then a total. */
export function table(summaries: readonly SimulationSummary[]): string {
  const groups = new Map<string, SimulationSummary[]>();
  for (const summary of summaries) {
    const key = `${summary.replicas} replicas`;
    groups.set(key, [...(groups.get(key) ?? []), summary]);
  }
  if (groups.size > 1) groups.set('total', [...summaries]);
  const header = ['cluster', 'seeds', 'ok', 'indeterminate', 'committed', 'view changes', 'crashes', 'recoveries', 'partitions', 'msgs sent', 'dropped', 'violations', 'sim s', 'wall s', 'steps/s'];
  const rows = [...groups.entries()].map(([key, group]) => {
    const sum = (field: keyof SimulationSummary) => group.reduce((total, summary) => total + (summary[field] as number), 0);
    const wallMs = sum('wall_ms');
    return [
      key,
      String(group.length),
      String(sum('requests_ok')),
      String(sum('requests_indeterminate')),
      String(sum('committed_ops')),
      String(sum('view_changes')),
      String(sum('crashes')),
      String(sum('recoveries')),
      String(sum('partitions')),
      String(sum('messages_sent')),
      String(sum('messages_dropped')),
      String(group.filter((summary) => summary.violations.length > 0).length),
      (sum('sim_ms') / 1000).toFixed(1),
      (wallMs / 1000).toFixed(1),
      wallMs > 0 ? String(Math.round((sum('steps') / wallMs) * 1000)) : '-',
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}
