#!/usr/bin/env -S node --import tsx
/** The `vsr-kv` command (see cli.ts; from the repository root: `npm run kv -- <args>`). */
import { readFileSync } from 'node:fs';
import { main } from './cli.js';

const argv = process.argv.slice(2);
if (!argv.includes('--supervised')) watchNpmRun();
void main(argv);

/**
 * `npm run kv -- …` starts npm → `sh -c "npm run -s setup && tsx …/vsr-kv.ts …"`
 * → the tsx CLI → this process (tsx runs its script in a child node, and
 * relays SIGINT and SIGTERM to it). npm forwards SIGINT and SIGTERM to the sh
 * alone; dash does not pass them on: it dies of SIGTERM at once, leaving tsx
 * and this process behind, and holds SIGINT until its child exits. (With
 * `exec tsx` in the script, npm signals tsx itself, which relays.) And an npm
 * killed with SIGKILL tells nobody. So, under `npm run`, this process watches
 * the chain of processes from itself up to that npm, and stops as on SIGTERM
 * when a link breaks: a process of the chain exited, and its child was
 * reparented. The chain is found through /proc (Linux); elsewhere, no watch.
 *
 * The processes of the chain are the ancestors that npm started: they share
 * npm's `npm_lifecycle_event` and `npm_lifecycle_script`; npm itself is the
 * first ancestor without them. A replica of `cluster` (`--supervised`) has its
 * own watch: its supervisor's pipe.
 */
function watchNpmRun(): void {
  const event = process.env['npm_lifecycle_event'];
  const script = process.env['npm_lifecycle_script'];
  if (event === undefined || script === undefined || parentOf(process.pid) === undefined) return;
  const marks = [`npm_lifecycle_event=${event}`, `npm_lifecycle_script=${script}`];
  const links: Array<readonly [child: number, parent: number]> = [];
  for (let child = process.pid; links.length < 8; ) {
    const parent = parentOf(child);
    if (parent === undefined || parent <= 1) break;
    links.push([child, parent]);
    const environment = environmentOf(parent);
    if (environment === undefined || !marks.every((mark) => environment.includes(mark))) break; // parent is npm
    child = parent;
  }
  if (links.length === 0) return;
  const npm = links[links.length - 1]![1];
  const timer = setInterval(() => {
    const broken = links.find(([child, parent]) => parentOf(child) !== parent);
    if (broken === undefined) return;
    clearInterval(timer);
    process.stderr.write(`vsr-kv: the npm run that started this process (pid ${npm}) is gone (pid ${broken[1]} exited): stopping\n`);
    process.kill(process.pid, 'SIGTERM');
  }, 250);
  timer.unref();
}

/** The parent pid of `pid` from /proc/PID/stat (field 4, after the parenthesised command name), or undefined. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(parent) ? parent : undefined;
  } catch {
    return undefined;
  }
}

function environmentOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}
