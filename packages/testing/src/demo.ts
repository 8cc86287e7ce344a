/**
 * `npm run demo:scenario`: a three-replica key-value cluster driven message by message through
 * the harness, from the golden scenario file `test/testdata/view-change.txt` (requests, a
 * primary crash, a view change, a retry answered from the client table, a restart), printing
 * each command and what happened, then checking that the replicas converged.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseScenario, ScenarioRunner } from './scenario.js';

const file = fileURLToPath(new URL('../test/testdata/view-change.txt', import.meta.url));
const blocks = parseScenario(readFileSync(file, 'utf8'), file);
const runner = new ScenarioRunner(file);

console.log('vsr demo: Viewstamped Replication, three replicas, one key-value store.');
console.log('Every line below is one message, timer or client event; nothing runs unless the script says so.');
console.log(`(the script: ${file})`);
let mismatches = 0;
for (const block of blocks) {
  const output = runner.run(block);
  if (output !== block.expected) mismatches++;
  console.log('');
  for (const comment of block.comments) console.log(comment);
  console.log(`> ${block.command}`);
  for (const line of output.split('\n')) if (line !== '') console.log(`  ${line}`);
}
console.log(`\n${blocks.length} commands; ${mismatches === 0 ? 'every output is the one the file records' : `${mismatches} outputs differ from the file`}.`);
if (mismatches > 0) process.exit(1);
