#!/usr/bin/env -S node --import tsx
/**
 * The harness's command line: a longer campaign, seed after seed, of the runs `npm test` does
 * briefly (harness/campaign.ts). From the repository root:
 *
 *   npx tsx packages/maelstrom/src/harness-cli.ts --seed 1 --seeds 5 --duration-ms 30000
 *
 * Each seed prints the nemesis's actions and a summary line; `--history DIR` writes each
 * seed's history (Jepsen-style events) as DIR/seed-N.json. Exit status: 0 every history
 * linearizable, 1 one was not (its explanation is printed), 3 the checker's budget ran out,
 * 2 a bad command line.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs as parseNodeArgs } from 'node:util';
import { integerFlag, UsageError } from '@vsr/core/cli-flags';
import { runCampaign, type CampaignOptions, type CampaignResult } from './harness/campaign.js';

export const HARNESS_USAGE = `usage: harness-cli [--seed N] [--seeds K] [--nodes N] [--clients N] [--duration-ms N]
                   [--delay-ms-max N] [--phase-ms N] [--keys N] [--client-timeout-ms N]
                   [--no-nemesis] [--history DIR] [-- node flags...]
  Runs n vsr-maelstrom nodes behind the harness's network, lin-kv clients bound to them, and a
  nemesis that cuts a minority, heals, cuts the primary's side, heals (each --phase-ms), then
  checks each seed's history for linearizability. Flags after -- go to every node.`;

interface HarnessArgs {
  readonly seed: number;
  readonly seeds: number;
  readonly historyDirectory: string | undefined;
  readonly campaign: Omit<CampaignOptions, 'seed'>;
}

export function parseHarnessArgs(argv: readonly string[]): HarnessArgs {
  let parsed;
  try {
    parsed = parseNodeArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        seed: { type: 'string' },
        seeds: { type: 'string' },
        nodes: { type: 'string' },
        clients: { type: 'string' },
        'duration-ms': { type: 'string' },
        'delay-ms-max': { type: 'string' },
        'phase-ms': { type: 'string' },
        keys: { type: 'string' },
        'client-timeout-ms': { type: 'string' },
        'no-nemesis': { type: 'boolean' },
        history: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help === true) throw new UsageError('');
  return {
    seed: integerFlag(values.seed, '--seed', { min: -0x8000_0000, max: 0x7fff_ffff, fallback: 1 }),
    seeds: integerFlag(values.seeds, '--seeds', { min: 1, max: 100_000, fallback: 1 }),
    historyDirectory: values.history,
    campaign: {
      nodeCount: integerFlag(values.nodes, '--nodes', { min: 1, max: 15, fallback: 3 }),
      clientCount: integerFlag(values.clients, '--clients', { min: 1, max: 64, fallback: 4 }),
      durationMs: integerFlag(values['duration-ms'], '--duration-ms', { min: 1, max: 3_600_000, fallback: 20_000 }),
      delayMsMax: integerFlag(values['delay-ms-max'], '--delay-ms-max', { min: 0, max: 10_000, fallback: 5 }),
      phaseMs: integerFlag(values['phase-ms'], '--phase-ms', { min: 1, max: 3_600_000, fallback: 2_000 }),
      keyCount: integerFlag(values.keys, '--keys', { min: 1, max: 1_000, fallback: 3 }),
      clientTimeoutMs: integerFlag(values['client-timeout-ms'], '--client-timeout-ms', { min: 1, max: 3_600_000, fallback: 1_000 }),
      nemesis: values['no-nemesis'] !== true,
      nodeArgs: positionals,
    },
  };
}

export function summaryLine(result: CampaignResult): string {
  const { counts } = result;
  const fails = Object.entries(counts.fail).map(([code, count]) => `${code}:${count}`).join(' ') || 'none';
  return (
    `seed ${result.seed}: ${result.check.verdict} (${result.check.operationCount} ops checked); ` +
    `ok read ${counts.ok.read} write ${counts.ok.write} cas ${counts.ok.cas}; fail ${fails}; info ${counts.info}; ` +
    `messages delivered ${result.delivered}, dropped ${result.dropped}; primaries cut ${result.primariesCut.join(' ') || 'none'}` +
    (result.stdoutPollution.length > 0 ? `; STDOUT POLLUTION ${result.stdoutPollution.length} lines` : '') +
    (result.nodesDead.length > 0 ? `; NODES DIED ${result.nodesDead.join(' ')}` : '')
  );
}

async function main(argv: readonly string[]): Promise<number> {
  let args: HarnessArgs;
  try {
    args = parseHarnessArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message === '' ? '' : `harness-cli: ${error.message}\n`}${HARNESS_USAGE}\n`);
    return error.message === '' ? 0 : 2;
  }
  let status = 0;
  for (let seed = args.seed; seed < args.seed + args.seeds; seed++) {
    const result = await runCampaign({ ...args.campaign, seed, log: (line) => console.log(`  ${line}`) });
    console.log(summaryLine(result));
    if (args.historyDirectory !== undefined) {
      mkdirSync(args.historyDirectory, { recursive: true });
      writeFileSync(join(args.historyDirectory, `seed-${seed}.json`), `${JSON.stringify(result.events)}\n`);
    }
    if (result.check.verdict === 'not-linearizable') {
      console.log(result.check.explanation);
      return 1;
    }
    if (result.check.verdict === 'unknown') status = 3;
    if (result.stdoutPollution.length > 0 || result.nodesDead.length > 0) status = Math.max(status, 1);
  }
  return status;
}

process.exitCode = await main(process.argv.slice(2));
