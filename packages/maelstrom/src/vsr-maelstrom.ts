#!/usr/bin/env -S node --import tsx
/**
 * `vsr-maelstrom`: a Maelstrom lin-kv node (node.ts) on this process's stdin and stdout. Only
 * Maelstrom messages go to stdout, one JSON object a line; everything else goes to stderr. The
 * process ends when stdin closes (Maelstrom stops its nodes by closing or killing them), or on
 * a fatal error of its replica (exit status 1). From the repository root: `npm run -s
 * maelstrom -- <flags>`; for Maelstrom's `--bin`: packages/maelstrom/bin/vsr-maelstrom.sh.
 */
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { UsageError } from '@vsr/core/cli-flags';
import { parseArgs, USAGE } from './cli.js';
import { LineLog } from './log.js';
import { MaelstromNode, type NodeSettings } from './node.js';

function settingsOrExit(argv: readonly string[]): Partial<NodeSettings> {
  try {
    return parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message === '' ? '' : `vsr-maelstrom: ${error.message}\n`}${USAGE}\n`);
    process.exit(error.message === '' ? 0 : 2);
  }
}

function main(): void {
  const settings = settingsOrExit(process.argv.slice(2));
  // Log lines name the node once init has named it.
  const named: { node?: MaelstromNode } = {};
  const log = new LineLog({ write: (line) => process.stderr.write(line), nowMs: () => Date.now(), name: () => named.node?.nodeId ?? 'vsr-maelstrom' });
  const node = new MaelstromNode({
    write: (message) => process.stdout.write(`${JSON.stringify(message)}\n`),
    log,
    processNonce: randomBytes(4).toString('hex'),
    settings,
    onFatal: () => process.exit(1),
  });
  named.node = node;
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => node.handleLine(line));
  lines.on('close', () => {
    node.close();
    process.exit(0);
  });
  // A reader that went away (EPIPE) ends the node: nobody hears it any more.
  process.stdout.on('error', () => process.exit(0));
}

main();
