/** The `npm run lincheck` entry point: checks a history file for linearizability. */
import { main } from './check/lincheck-cli.js';

process.exitCode = main(process.argv.slice(2));
