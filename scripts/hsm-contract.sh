#!/usr/bin/env bash
# `npm run hsm-contract -- …`: build if needed, then run the PKCS#11 contract suite against a
# token (src/hsm/contract/cli.ts; docs/hsm-compatibility.md says how).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. scripts/lib/prepare.sh
kb_require_node
kb_require_npm_deps
kb_build
cd - >/dev/null
exec node "$root/dist/src/hsm/contract/cli.js" "$@"
