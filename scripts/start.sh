#!/usr/bin/env bash
# `npm start`: prepare what is missing, build, and serve the KMS API on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/prepare.sh
kb_require_node
kb_require_packages softhsm2
kb_require_npm_deps
kb_build
exec node dist/src/main.js "$@"
