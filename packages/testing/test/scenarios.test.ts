/**
 * The golden scenario files in testdata/: each command's output must be what the file holds.
 * `VSR_GOLDEN_UPDATE=1 npx -y pnpm@12.21.0 exec vitest run packages/testing/test/scenarios.test.ts`
 * rewrites them with what the code prints now (read the diff before committing it).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ScenarioError, parseScenario, runScenario, runScenarioFile } from '../src/scenario.js';

const directory = join(import.meta.dirname, 'testdata');
const files = readdirSync(directory).filter((file) => file.endsWith('.txt')).sort();
const update = process.env['VSR_GOLDEN_UPDATE'] === '1';

describe('golden scenarios', () => {
  test('there are scenario files to run', () => {
    expect(files).toEqual(expect.arrayContaining(['normal-operation.txt', 'recovery.txt', 'view-change.txt']));
  });

  test.each(files)('%s', (file) => {
    const result = runScenarioFile(join(directory, file), { update });
    const report = result.mismatches.map(({ block, output }) => `${file}:${block.line}: ${block.command}\n--- expected\n${block.expected}\n--- got\n${output}`).join('\n\n');
    if (!update) expect(result.mismatches.length, report).toBe(0);
  });
});

describe('the scenario language', () => {
  test('a changed expectation is reported as a mismatch at its command', () => {
    const text = 'cluster replicas=3\n----\nsomething else\n\ndescribe\n----\n';
    const result = runScenario(text, 't.txt');
    expect(result.mismatches.map(({ block }) => block.line)).toEqual([1, 5]);
    expect(result.outputs[1]).toMatch(/^replica 0\/3 primary view=0 status=normal/m);
  });

  test('malformed files and wrong commands are refused naming the line', () => {
    expect(() => parseScenario('cluster replicas=3\nno separator\n', 'a.txt')).toThrow(new ScenarioError('a.txt', 2, "expected '----' after the command 'cluster replicas=3'"));
    expect(() => runScenario('describe\n----\n', 'b.txt')).toThrow('b.txt:1: the first command must be `cluster replicas=N`');
    expect(() => runScenario('cluster replicas=3\n----\n\nfire r=7 timer=heartbeat\n----\n', 'c.txt')).toThrow('c.txt:4: r=7 is not a replica (the cluster has 3)');
    expect(() => runScenario('cluster replicas=3\n----\n\nteleport r=1\n----\n', 'd.txt')).toThrow("d.txt:4: unknown command 'teleport'");
    expect(() => runScenario('cluster replicas=3\n----\n\nrequest r=0 client=a n=x\n----\n', 'e.txt')).toThrow("e.txt:4: n= must be a non-negative integer, got 'x'");
  });
});
