/**
 * A long seeded fuzz run against a three-replica vsr-kv cluster in this
 * process: the same inputs and checks as test/fuzz.test.ts (see
 * test/fuzzing.ts), as long as asked. Prints each batch and a report;
 * exits 1 on a finding, 2 on a bad command line.
 *
 *   npx -y pnpm@12.21.0 exec tsx packages/kv-service/bench/fuzz.ts --seconds 600 --seed 7
 *   ... --kinds peer-auth,client          only these kinds of input
 *   ... --batch-ms 5000                   fuzzing time between checks
 *   ... --keep-going                      run on after a finding
 *   ... --show peer-auth:123              print input 123 of a kind for the seed, and exit
 *   ... --probe-view 9007199254740991     instead: the targeted probe (an authenticated StartViewChange
 *                                          for that view, then the primary stops; see probeViewHeadroom)
 */
import { parseArgs } from 'node:util';
import { FUZZ_KINDS, describeInput, formatReport, fuzzSeed, generate, probeViewHeadroom, runFuzz, type FuzzKind } from '../test/fuzzing.js';

function usage(message: string): never {
  process.stderr.write(`fuzz: ${message}\n`);
  process.exit(2);
}

function positive(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) usage(`--${name}: expected a positive number, got ${JSON.stringify(value)}`);
  return parsed;
}

function kindOf(text: string): FuzzKind {
  if (!(FUZZ_KINDS as readonly string[]).includes(text)) usage(`unknown kind ${JSON.stringify(text)} (known: ${FUZZ_KINDS.join(', ')})`);
  return text as FuzzKind;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      strict: true,
      options: {
        seconds: { type: 'string' },
        seed: { type: 'string' },
        kinds: { type: 'string' },
        'batch-ms': { type: 'string' },
        'keep-going': { type: 'boolean' },
        show: { type: 'string' },
        'probe-view': { type: 'string' },
      },
    }));
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  const seed = values.seed === undefined ? fuzzSeed() : Number(values.seed);
  if (!Number.isSafeInteger(seed)) usage(`--seed: expected an integer, got ${JSON.stringify(values.seed)}`);
  if (values.show !== undefined) {
    const [kind, index] = values.show.split(':');
    const number = Number(index);
    if (kind === undefined || !Number.isSafeInteger(number) || number < 0) usage(`--show: expected KIND:INDEX, got ${JSON.stringify(values.show)}`);
    process.stdout.write(`${describeInput(generate(kindOf(kind), seed, number), 1_000_000)}\n`);
    return 0;
  }
  if (values['probe-view'] !== undefined) {
    const view = Number(values['probe-view']);
    if (!Number.isSafeInteger(view) || view < 0) usage(`--probe-view: expected a view number, got ${JSON.stringify(values['probe-view'])}`);
    const probe = await probeViewHeadroom({ view, log: (line) => process.stdout.write(`${line}\n`) });
    for (const finding of probe.findings) process.stdout.write(`FINDING [${finding.kind}] ${finding.message}\n${finding.stack === undefined ? '' : `${finding.stack}\n`}`);
    process.stdout.write(probe.findings.length === 0 ? 'probe: no finding\n' : `probe: ${probe.findings.length} finding(s)\n`);
    return probe.findings.length > 0 ? 1 : 0;
  }
  const seconds = positive(values.seconds, 'seconds', 60);
  const kinds = values.kinds === undefined ? FUZZ_KINDS : values.kinds.split(',').map((kind) => kindOf(kind.trim()));
  // Ctrl-C or SIGTERM: end the fuzzing, then check, report and clean up as at the end.
  const stop = new AbortController();
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    process.once(name, () => {
      process.stdout.write(`fuzz: ${name}: stopping after this batch\n`);
      stop.abort();
    });
  }
  const report = await runFuzz({
    signal: stop.signal,
    seed,
    durationMs: seconds * 1_000,
    batchMs: positive(values['batch-ms'], 'batch-ms', 3_000),
    kinds,
    stopOnFinding: values['keep-going'] !== true,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`${formatReport(report)}\n`);
  if (report.findings.length > 0) process.stdout.write(`replay this run: npx -y pnpm@12.21.0 exec tsx packages/kv-service/bench/fuzz.ts --seconds ${seconds} --seed ${seed}\n`);
  return report.findings.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fuzz: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
