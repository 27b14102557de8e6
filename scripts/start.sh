#!/usr/bin/env bash
# `npm start`: prepare what is missing, build, and serve the KMS API on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/prepare.sh
kb_require_node
kb_require_packages softhsm2
kb_require_npm_deps
kb_build
# PKCS#11 crypto runs on libuv's thread pool (pkcs11js async calls). A hung or slow HSM member
# holds threads until its calls return; 4 (the default) would let one member starve the others.
export UV_THREADPOOL_SIZE="${UV_THREADPOOL_SIZE:-16}"
exec node dist/src/main.js "$@"
