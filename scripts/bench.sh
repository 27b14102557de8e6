#!/usr/bin/env bash
# `npm run bench`: build, then run the benchmark (bench/run.ts). Writes bench/results.json.
# The network-HSM and hung-member rows build the fault-injecting PKCS#11 module (a C compiler);
# without one they are reported as skipped. Environment: BENCH_SECONDS, BENCH_SMOKE=1, BENCH_RESULTS,
# BENCH_SERVER_NODE_OPTIONS (see bench/run.ts); `node dist/bench/profile.js` profiles the server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/prepare.sh
kb_require_node
kb_require_packages softhsm2
kb_want_packages gcc libc6-dev
kb_require_npm_deps
kb_build
exec node dist/bench/run.js "$@"
