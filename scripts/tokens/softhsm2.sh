#!/usr/bin/env bash
# Token lab: a throw-away SoftHSM2 token whose whole state lives in DIR (used by test/support/token-lab.ts).
#   softhsm2.sh start DIR LABEL SOPIN PIN   writes DIR/module and DIR/run (DIR/run cmd args... runs cmd
#                                           with this token's SOFTHSM2_CONF)
#   softhsm2.sh stop DIR                    removes DIR (SoftHSM2 has no daemon)
#   softhsm2.sh check                       exit 3 and name the Debian package if something is missing
set -Eeuo pipefail   # -E: the ERR trap below also fires inside functions
MODULE=/usr/lib/softhsm/libsofthsm2.so
me=$(basename "$0")
. "$(dirname "$0")/lib.sh"

check() {
  local path pkg missing=0
  for pair in "$MODULE:libsofthsm2" "/usr/bin/softhsm2-util:softhsm2"; do
    path=${pair%%:*}; pkg=${pair#*:}
    [ -e "$path" ] || { echo "$me: missing $path (Debian package $pkg)" >&2; missing=1; }
  done
  [ "$missing" = 0 ] || exit 3
}

start() {
  D=$1; local LABEL=$2 SOPIN=$3 PIN=$4
  # On failure, name the failing command and show the end of the logs. Printed by the EXIT trap because
  # an ERR trap inherits the redirections of the failing command (its stderr may be a log file).
  trap 'failed=${failed:-$BASH_COMMAND}' ERR
  trap 'rc=$?; [ "$rc" = 0 ] || { echo "$me start: failed (exit $rc): ${failed:-?}; logs in $D" >&2
                                  tail -n 5 "$D"/*.log >&2 2>/dev/null || true; }' EXIT
  mkdir -p "$D/tokens"
  # The library reads its token directory from SOFTHSM2_CONF, so a config per DIR keeps runs apart.
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$D" > "$D/softhsm2.conf"
  # --free: the first uninitialised slot; SoftHSM2 then renumbers the slot, so callers find it by label.
  SOFTHSM2_CONF="$D/softhsm2.conf" softhsm2-util --init-token --free --label "$LABEL" \
    --so-pin "$SOPIN" --pin "$PIN" < /dev/null > "$D/init.log" 2>&1
  echo "$MODULE" > "$D/module"
  cat > "$D/run" <<RUN
#!/bin/bash
# Runs a command with this token's SoftHSM2 config; keeps the caller's environment, cwd and exit code.
export SOFTHSM2_CONF=$(printf %q "$D/softhsm2.conf")
exec "\$@"
RUN
  chmod +x "$D/run"
}

stop() { rm -rf "$1"; }

token_main "$@"
