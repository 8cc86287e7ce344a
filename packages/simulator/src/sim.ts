/** The `npm run sim` entry point. */
import { mainWithService } from './cli.js';

process.exitCode = await mainWithService(process.argv.slice(2));
