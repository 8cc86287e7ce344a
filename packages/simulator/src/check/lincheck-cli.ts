/**
 * The checker's command line: `lincheck FILE [--model register|kv|queue] [--format edn|json]
 * [--steps-max N] [--timeout-ms N] [--html OUT.html]`. Exit status: 0 linearizable, 1 not
 * linearizable, 3 unknown (the budget ran out), 2 a bad command line or a history that cannot
 * be read (the message says what is wrong).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { parseArgs as parseNodeArgs } from 'node:util';
import { integerFlag, UsageError } from '@vsr/core/cli-flags';
import type { ModelOperation } from '../model.js';
import { HistoryError, type HistoryCodec } from './codec.js';
import { parseEdnHistory } from './history-edn.js';
import { parseJsonHistory } from './history-json.js';
import { kvCodec } from './kv-model.js';
import { queueCodec } from './queue-model.js';
import { registerCodec } from './register-model.js';
import { renderHistoryHtml } from './render.js';
import { CHECK_STEPS_MAX_DEFAULT, checkHistory, type CheckResult } from './search.js';

export const USAGE = `usage: npm run lincheck -- FILE [--model register|kv|queue] [--format edn|json]
                            [--steps-max N] [--timeout-ms N] [--html OUT.html]
  --model       the built-in model (default register)
  --format      the history's format (default: from the file name, .edn or .json)
  --steps-max   search steps allowed (default ${CHECK_STEPS_MAX_DEFAULT})
  --timeout-ms  wall time allowed, in ms (default: none)
  --html        also write the history, drawn, to this file
exit status: 0 linearizable, 1 not linearizable, 3 unknown (budget), 2 bad usage or input`;

/** Files larger than this are refused before they are read. */
export const HISTORY_FILE_BYTES_MAX = 256 * 1024 * 1024;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const CODECS: Record<string, HistoryCodec<any, any>> = { register: registerCodec, kv: kvCodec, queue: queueCodec };

export interface LincheckOptions {
  readonly file: string;
  readonly model: string;
  readonly format: 'edn' | 'json';
  readonly stepsMax: number;
  readonly timeoutMs: number | undefined;
  readonly htmlFile: string | undefined;
}

export function parseArgs(argv: readonly string[]): LincheckOptions {
  let parsed;
  try {
    parsed = parseNodeArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        model: { type: 'string' },
        format: { type: 'string' },
        'steps-max': { type: 'string' },
        'timeout-ms': { type: 'string' },
        html: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help === true) throw new UsageError('');
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'a history FILE is required' : `one history FILE, got ${positionals.length}`);
  const file = positionals[0]!;
  const model = values.model ?? 'register';
  if (!(model in CODECS)) throw new UsageError(`--model: expected one of ${Object.keys(CODECS).join(', ')}, got '${model}'`);
  const format = values.format ?? (file.endsWith('.json') ? 'json' : file.endsWith('.edn') ? 'edn' : undefined);
  if (format === undefined) throw new UsageError(`--format: cannot tell the format of '${file}' from its name; give --format edn or --format json`);
  if (format !== 'edn' && format !== 'json') throw new UsageError(`--format: expected edn or json, got '${format}'`);
  return {
    file,
    model,
    format,
    stepsMax: integerFlag(values['steps-max'], '--steps-max', { min: 0, fallback: CHECK_STEPS_MAX_DEFAULT }),
    timeoutMs: values['timeout-ms'] === undefined ? undefined : integerFlag(values['timeout-ms'], '--timeout-ms', { min: 0 }),
    htmlFile: values.html,
  };
}

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const defaultIo: CliIo = { out: (line) => console.log(line), err: (line) => console.error(line) };

/** Runs the command line; returns the exit status. */
export function main(argv: readonly string[], io: CliIo = defaultIo): number {
  let options: LincheckOptions;
  try {
    options = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    if (error.message !== '') io.err(`lincheck: ${error.message}`);
    io.err(USAGE);
    return error.message === '' ? 0 : 2;
  }
  const codec = CODECS[options.model]!;
  let history: ModelOperation<unknown, unknown>[];
  try {
    history = readHistory(options, codec);
  } catch (error) {
    if (!(error instanceof HistoryError)) throw error;
    io.err(`lincheck: ${options.file}: ${error.message}`);
    return 2;
  }
  const startedMs = performance.now();
  const result = checkHistory(codec.model, history, { stepsMax: options.stepsMax, timeoutMs: options.timeoutMs });
  const elapsedMs = performance.now() - startedMs;
  for (const line of summaryLines(result, elapsedMs)) io.out(line);
  if (options.htmlFile !== undefined) {
    const describe = (op: ModelOperation<unknown, unknown>): string => codec.model.describeOperation?.(op) ?? `#${op.id}`;
    writeFileSync(options.htmlFile, renderHistoryHtml(history, result, { title: `${options.file} (${options.model} model)`, describe }));
    io.out(`html: ${options.htmlFile}`);
  }
  return result.verdict === 'linearizable' ? 0 : result.verdict === 'not-linearizable' ? 1 : 3;
}

function readHistory(options: LincheckOptions, codec: HistoryCodec<unknown, unknown>): ModelOperation<unknown, unknown>[] {
  let text: string;
  try {
    const { size } = statSync(options.file);
    if (size > HISTORY_FILE_BYTES_MAX) throw new HistoryError(`the file has ${size} bytes, more than the ${HISTORY_FILE_BYTES_MAX} allowed`);
    text = readFileSync(options.file, 'utf8');
  } catch (error) {
    if (error instanceof HistoryError) throw error;
    throw new HistoryError(`cannot read the file: ${error instanceof Error ? error.message : String(error)}`);
  }
  return options.format === 'edn' ? parseEdnHistory(text, codec) : parseJsonHistory(text, codec);
}

export function summaryLines(result: CheckResult, elapsedMs: number): string[] {
  const verdict = result.verdict === 'not-linearizable' ? 'not linearizable' : result.verdict;
  const lines = [
    `verdict: ${verdict}`,
    `ops: ${result.operationCount}, parts: ${result.partCount} (${result.partsChecked} checked), search steps: ${result.searchSteps}, time: ${elapsedMs.toFixed(1)} ms`,
  ];
  if (result.verdict === 'unknown') lines.push(`reason: ${result.reason}`);
  if (result.verdict === 'not-linearizable') {
    lines.push(`part ${result.part}: longest linearizable prefix (${result.prefixIds.length} ops):`);
    for (const text of result.prefixDescribed) lines.push(`  ${text}`);
    lines.push('could not follow it:');
    for (const text of result.blockedDescribed) lines.push(`  ${text}`);
  }
  return lines;
}
