/**
 * Golden scenario files, in the style of etcd raft's `testdata/*.txt`: a small text language
 * over the message-by-message harness, and the output each command printed, kept in the file.
 * A test runs every file and compares; `VSR_GOLDEN_UPDATE=1` rewrites the files with what the
 * code prints now (review the diff before committing it).
 *
 * A file is a sequence of blocks separated by blank lines. A block is one command line (lines
 * starting with `#` before it are comments), a line `----`, and the output expected:
 *
 *     # The primary orders a write and commits it.
 *     request r=0 client=alice n=1 op={"type":"write","key":"x","value":1}
 *     ----
 *     client alice -> r0: request #1 {"type":"write","key":"x","value":1}
 *
 * Commands (replica ids are `r=N`; `op=` takes the rest of the line, as JSON):
 * - `cluster replicas=N [machine=kv]`: a fresh cluster, booted (must come first);
 * - `request r=N client=ID n=N [op=JSON]`: a client request arriving at replica N;
 * - `read r=N client=ID n=N op=JSON`: a client's read without the log (read number n, query op);
 * - `deliver [from=N] [to=N] [type=T]`: delivers in-flight messages, oldest first, until none
 *   that match is left (the replies they cause included);
 * - `drop [from=N] [to=N] [type=T]`: loses the matching messages in flight;
 * - `fire r=N timer=NAME`: a timer fires (it must be armed);
 * - `crash r=N`, `restart r=N`, `wipe r=N`: a process dies, boots from its storage, loses it;
 * - `isolate r=N`, `block from=N to=M`, `heal`: partitions;
 * - `describe`: every replica's state, as `describe()` prints it;
 * - `replies client=ID`: the replies that client has received.
 * The output of a command is what the harness logged while it ran (every message, timer,
 * reply and fault), then, for `describe` and `replies`, what they print.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { kvMachine } from '@vsr/kv';
import type { StateMachine, TimerName } from '@vsr/core';
import { Cluster, describeReply, type Envelope } from './cluster.js';

/** A command, its arguments, and the output the file expects (and where it sits, for errors). */
export interface ScenarioBlock {
  readonly comments: readonly string[];
  readonly command: string;
  readonly expected: string;
  readonly line: number;
}

export class ScenarioError extends Error {
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'ScenarioError';
  }
}

/** Parses a scenario file's text into blocks; a malformed file is refused naming the line. */
export function parseScenario(text: string, file = 'scenario'): ScenarioBlock[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const blocks: ScenarioBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    const comments: string[] = [];
    while (i < lines.length && (lines[i]?.trim() === '' || lines[i]?.startsWith('#'))) {
      if (lines[i]?.startsWith('#')) comments.push(lines[i] ?? '');
      else comments.length = 0; // A comment belongs to the command right after it.
      i++;
    }
    if (i >= lines.length) break;
    const command = (lines[i] ?? '').trim();
    const line = i + 1;
    i++;
    if (lines[i] !== '----') throw new ScenarioError(file, line + 1, `expected '----' after the command '${command}'`);
    i++;
    const output: string[] = [];
    while (i < lines.length && lines[i] !== '') output.push(lines[i++] ?? '');
    blocks.push({ comments, command, expected: output.join('\n'), line });
  }
  return blocks;
}

/** Prints blocks back as a file, with the given outputs. */
export function formatScenario(blocks: readonly ScenarioBlock[], outputs: readonly string[]): string {
  return `${blocks.map((block, index) => [...block.comments, block.command, '----', ...(outputs[index] === '' ? [] : [outputs[index] ?? ''])].join('\n')).join('\n\n')}\n`;
}

const MACHINES: Record<string, StateMachine> = { kv: kvMachine };

/** Splits `name k=v k=v op=<rest of line>` into its name and arguments. */
function parseCommand(command: string): { name: string; args: Map<string, string> } {
  const opAt = command.search(/(^|\s)op=/);
  const head = opAt < 0 ? command : command.slice(0, opAt);
  const [name = '', ...pairs] = head.trim().split(/\s+/);
  const args = new Map<string, string>();
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new Error(`expected key=value, got '${pair}'`);
    args.set(pair.slice(0, equals), pair.slice(equals + 1));
  }
  if (opAt >= 0) args.set('op', command.slice(opAt).trim().slice('op='.length));
  return { name, args };
}

/** Runs a scenario: one output per block. Commands that are wrong for the cluster throw, naming the line. */
export class ScenarioRunner {
  private cluster: Cluster | null = null;
  private printed = 0;

  constructor(private readonly file: string) {}

  run(block: ScenarioBlock): string {
    try {
      const { name, args } = parseCommand(block.command);
      const extra = this.execute(name, args);
      const cluster = this.ready();
      const logged = cluster.trace.slice(this.printed);
      this.printed = cluster.trace.length;
      return [...logged, ...(extra === null ? [] : [extra])].join('\n');
    } catch (error) {
      if (error instanceof ScenarioError) throw error;
      throw new ScenarioError(this.file, block.line, error instanceof Error ? error.message : String(error));
    }
  }

  private ready(): Cluster {
    if (this.cluster === null) throw new Error('the first command must be `cluster replicas=N`');
    return this.cluster;
  }

  private execute(name: string, args: Map<string, string>): string | null {
    if (name === 'cluster') return this.create(args);
    const cluster = this.ready();
    const replica = () => this.replicaArg(args, 'r');
    switch (name) {
      case 'request': {
        const operation = args.has('op') ? (JSON.parse(args.get('op') ?? 'null') as unknown) : null;
        cluster.request(replica(), this.textArg(args, 'client'), this.integerArg(args, 'n'), operation);
        return null;
      }
      case 'read': {
        const query = JSON.parse(args.get('op') ?? 'null') as unknown;
        cluster.read(replica(), this.textArg(args, 'client'), this.integerArg(args, 'n'), query);
        return null;
      }
      case 'deliver':
        cluster.deliverAll(this.envelopeFilter(args));
        return null;
      case 'drop':
        cluster.drop(this.envelopeFilter(args));
        return null;
      case 'fire':
        cluster.fire(replica(), this.textArg(args, 'timer') as TimerName);
        return null;
      case 'crash':
        cluster.crash(replica());
        return null;
      case 'restart':
        cluster.restart(replica());
        return null;
      case 'wipe':
        cluster.wipe(replica());
        return null;
      case 'isolate':
        cluster.isolate(replica());
        return null;
      case 'block':
        cluster.block(this.replicaArg(args, 'from'), this.replicaArg(args, 'to'));
        return null;
      case 'heal':
        cluster.heal();
        return null;
      case 'describe':
        return cluster.describe();
      case 'replies':
        return cluster.repliesTo(this.textArg(args, 'client')).map(({ replica: from, reply }) => `r${from}: ${describeReply(reply)}`).join('\n');
      default:
        throw new Error(`unknown command '${name}'`);
    }
  }

  private create(args: Map<string, string>): string | null {
    if (this.cluster !== null) throw new Error('`cluster` may come only once, first');
    const machineName = args.get('machine') ?? 'kv';
    const machine = MACHINES[machineName];
    if (machine === undefined) throw new Error(`unknown machine '${machineName}' (known: ${Object.keys(MACHINES).join(', ')})`);
    this.cluster = new Cluster({ replicaCount: this.integerArg(args, 'replicas'), machine, trace: true });
    return this.cluster.describe();
  }

  private envelopeFilter(args: Map<string, string>): (envelope: Envelope) => boolean {
    const from = args.has('from') ? this.replicaArg(args, 'from') : null;
    const to = args.has('to') ? this.replicaArg(args, 'to') : null;
    const type = args.get('type') ?? null;
    return (envelope) => (from === null || envelope.from === from) && (to === null || envelope.to === to) && (type === null || envelope.message.type === type);
  }

  private textArg(args: Map<string, string>, key: string): string {
    const value = args.get(key);
    if (value === undefined || value === '') throw new Error(`missing ${key}=`);
    return value;
  }

  private integerArg(args: Map<string, string>, key: string): number {
    const text = this.textArg(args, key);
    if (!/^\d+$/.test(text)) throw new Error(`${key}= must be a non-negative integer, got '${text}'`);
    return Number(text);
  }

  private replicaArg(args: Map<string, string>, key: string): number {
    const replicaId = this.integerArg(args, key);
    const count = this.ready().replicaCount;
    if (replicaId >= count) throw new Error(`${key}=${replicaId} is not a replica (the cluster has ${count})`);
    return replicaId;
  }
}

/** What running a file gave: each block's output, and whether all matched. */
export interface ScenarioResult {
  readonly blocks: readonly ScenarioBlock[];
  readonly outputs: readonly string[];
  readonly mismatches: ReadonlyArray<{ readonly block: ScenarioBlock; readonly output: string }>;
}

export function runScenario(text: string, file = 'scenario'): ScenarioResult {
  const blocks = parseScenario(text, file);
  const runner = new ScenarioRunner(file);
  const outputs = blocks.map((block) => runner.run(block));
  const mismatches = blocks.flatMap((block, index) => (outputs[index] === block.expected ? [] : [{ block, output: outputs[index] ?? '' }]));
  return { blocks, outputs, mismatches };
}

/** Runs a scenario file; with `update`, rewrites it with the outputs the code gives now. */
export function runScenarioFile(path: string, options: { readonly update?: boolean } = {}): ScenarioResult {
  const result = runScenario(readFileSync(path, 'utf8'), path);
  if (options.update === true && result.mismatches.length > 0) writeFileSync(path, formatScenario(result.blocks, result.outputs));
  return result;
}
