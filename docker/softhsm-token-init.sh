#!/bin/sh
# Stand-in for an HSM vendor's own setup tooling, used by docker/compose.yml's `production`
# profile and by the container tests: creates the SoftHSM2 token that docker/examples/production.json
# names, once, with the user PIN read from the mounted secret. With a real HSM the token (partition,
# slot) already exists and this step goes away; see docs/deployment.md.
#
# Runs inside the keybridge image as its non-root user. Environment:
#   SOFTHSM2_CONF          where SoftHSM2 keeps its configuration (tokens go in tokens/ beside it)
#   KEYBRIDGE_TOKEN_LABEL  the token's label (default keybridge-prod)
#   KEYBRIDGE_PIN_FILE     the user PIN (default /run/secrets/keybridge-pin)
set -eu
: "${SOFTHSM2_CONF:?set SOFTHSM2_CONF}"
label=${KEYBRIDGE_TOKEN_LABEL:-keybridge-prod}
pin_file=${KEYBRIDGE_PIN_FILE:-/run/secrets/keybridge-pin}
dir=$(dirname "$SOFTHSM2_CONF")

[ -s "$pin_file" ] || { echo "softhsm-token-init: the PIN file $pin_file is missing or empty" >&2; exit 1; }
umask 077
mkdir -p "$dir/tokens"
if [ ! -f "$SOFTHSM2_CONF" ]; then
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$dir/tokens" > "$SOFTHSM2_CONF"
fi
if softhsm2-util --show-slots | grep -Eq "^[[:space:]]*Label:[[:space:]]+$label[[:space:]]*\$"; then
  echo "softhsm-token-init: token $label exists"
  exit 0
fi
# The security officer's PIN is only needed to re-initialise the token; keep it beside the tokens.
[ -f "$dir/so.pin" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/so.pin"
softhsm2-util --init-token --free --label "$label" --so-pin "$(cat "$dir/so.pin")" --pin "$(cat "$pin_file")" >/dev/null
echo "softhsm-token-init: initialised token $label in $dir/tokens"
