#!/usr/bin/env -S node --import tsx
/** The `vsr-kv` command (see cli.ts; from the repository root: `npm run kv -- <args>`). */
import { main } from './cli.js';

void main(process.argv.slice(2));
