#!/bin/sh
# The vsr-maelstrom node as one executable path, for Maelstrom's --bin. It runs the node with
# node and tsx directly (no npm: its banner would reach stdout, which must carry Maelstrom
# messages only), from the repository root. Flags are passed on (see vsr-maelstrom --help).
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$ROOT" || exit 1
exec node --import tsx packages/maelstrom/src/vsr-maelstrom.ts "$@"
