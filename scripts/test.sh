#!/usr/bin/env bash
# `npm test`: prepare what is missing, build, and run the whole suite with node:test.
# Tests that need a tool we cannot install (not root) say so and skip by name.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/prepare.sh
kb_require_node
# openssl makes the TLS tests' certificates; curl is the XKS spec's own client (Appendix D) in test/xks.
kb_require_packages softhsm2 gcc libc6-dev openssl curl
# postgresql: the server binaries for the throw-away clusters of the PostgreSQL metadata store's
# tests (scripts/postgres-lab.sh, test/support/postgres-lab.ts).
kb_require_packages postgresql
# python3-boto3: boto3 and botocore for /usr/bin/python3, which the botocore-signing tests run
# (Debian's awscli keeps its own private botocore that no other Python can import).
kb_want_packages awscli python3-boto3
# The PKCS#11 contract suite's other two token implementations (test/hsm/contract, scripts/tokens):
# openCryptoki's soft token, and tpm2-pkcs11 on a software TPM behind tpm2-abrmd.
kb_want_packages opencryptoki libtpm2-pkcs11-1 libtpm2-pkcs11-tools python3-tpm2-pkcs11-tools \
  swtpm swtpm-tools tpm2-abrmd libtss2-tcti-tabrmd0 libtss2-tcti-swtpm0 tpm2-tools dbus-daemon
# chromium: Debian's browser, driven headless by playwright-core in the web console's tests
# (test/e2e/console*.test.ts); no browser is ever downloaded.
kb_want_packages chromium
kb_require_npm_deps
rm -rf dist
kb_build
# KEYBRIDGE_TEST_ONLY="dir/ file.test.js …" (paths under dist/test) runs a subset: CI's runs on
# the other Node lines (scripts/test-node-versions.sh). Unset, everything runs.
if [ -n "${KEYBRIDGE_TEST_ONLY:-}" ]; then
  mapfile -t files < <(for p in $KEYBRIDGE_TEST_ONLY; do find "dist/test/$p" -name '*.test.js'; done | sort -u)
else
  mapfile -t files < <(find dist/test -name '*.test.js' | sort)
fi
[ ${#files[@]} -gt 0 ] || kb_die "no test files found under dist/test"
node --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
# The symmetric end-to-end tests once more with the default key store forced to the CBC-HMAC suite,
# as on an HSM without AES-GCM (test/support/server.ts reads the variable). Whole runs only.
if [ -z "${KEYBRIDGE_TEST_ONLY:-}" ]; then
  suite_files=()
  for name in sdk aws-cli encryption-sdk rotation grants durability no-plaintext-leak; do suite_files+=("dist/test/e2e/$name.test.js"); done
  KEYBRIDGE_TEST_SYMMETRIC_SUITE=AES_256_CBC_HMAC_SHA_256 node --test --test-concurrency=2 --test-timeout=300000 "${suite_files[@]}"
  # End-to-end tests once more with the metadata in PostgreSQL (a throw-away cluster per test
  # process, test/support/postgres-lab.ts) instead of SQLite: the store every multi-node deployment runs.
  store_files=()
  for name in sdk grants custom-key-stores external-key-store-failures rotation rotation-custom-key-store encryption-sdk lookup-events console-api; do store_files+=("dist/test/e2e/$name.test.js"); done
  KEYBRIDGE_TEST_STORE=postgres node --test --test-concurrency=2 --test-timeout=300000 "${store_files[@]}"
fi
