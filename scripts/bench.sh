#!/usr/bin/env bash
# `npm run bench`: build, then run the benchmark (bench/run.ts). Writes bench/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/prepare.sh
kb_require_node
kb_require_packages softhsm2
kb_require_npm_deps
kb_build
exec node dist/bench/run.js "$@"
