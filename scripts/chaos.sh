#!/usr/bin/env bash
# The cluster-resilience scenario (bench/chaos.ts): a two-member SoftHSM2 cluster in keybridge
# replication mode under steady load; member A's device fails at 1/5 of the run and returns at
# 2/5, member B's token leaves the slot list at 3/5 and returns at 4/5.
#   scripts/chaos.sh [--duration-ms 30000] [--rate 200]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/prepare.sh
kb_require_node
kb_require_packages softhsm2 gcc libc6-dev
kb_require_npm_deps
kb_build
exec node dist/bench/chaos.js "$@"
