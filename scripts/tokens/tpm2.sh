#!/usr/bin/env bash
# Token lab: a throw-away tpm2-pkcs11 token on a software TPM, with all state in DIR (used by
# test/support/token-lab.ts).
#   tpm2.sh start DIR LABEL SOPIN PIN   writes DIR/module, DIR/run (DIR/run cmd args... runs cmd with this
#                                       token's TCTI/store variables), DIR/secret-key-label (AES-256 key)
#                                       and DIR/hmac-key-label (HMAC-SHA256 key)
#   tpm2.sh stop DIR                    stops tpm2-abrmd, dbus-daemon and swtpm, removes DIR
#   tpm2.sh check                       exit 3 and name the Debian package if something is missing
#
# Processes: swtpm (the TPM, TCP on a free 127.0.0.1 port pair) <- tpm2-abrmd (resource manager) on a
# private D-Bus session bus <- tpm2_ptool and libtpm2_pkcs11.so (TCTI "tabrmd"). Why abrmd: swtpm alone
# has 3 transient object slots and tpm2-tools/tpm2-pkcs11 leave objects loaded, so token creation and
# EC key generation fail with "out of memory for object contexts"; abrmd swaps objects in and out.
# Why a private bus: no system bus or systemd is needed, and parallel instances cannot collide.
set -Eeuo pipefail   # -E: the ERR trap below also fires inside functions
MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
AES_LABEL=contract-aes
HMAC_LABEL=contract-hmac
me=$(basename "$0")

check() {
  local pair path pkg missing=0
  for pair in "$MODULE:libtpm2-pkcs11-1" "/usr/bin/tpm2_ptool:libtpm2-pkcs11-tools" \
              "/usr/lib/python3/dist-packages/tpm2_pkcs11:python3-tpm2-pkcs11-tools" \
              "/usr/bin/python3:python3-minimal" "/usr/bin/swtpm:swtpm" \
              "/usr/sbin/tpm2-abrmd:tpm2-abrmd" \
              "/usr/lib/x86_64-linux-gnu/libtss2-tcti-tabrmd.so.0:libtss2-tcti-tabrmd0" \
              "/usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0:libtss2-tcti-swtpm0" \
              "/usr/bin/tpm2_getcap:tpm2-tools" "/usr/bin/dbus-daemon:dbus-daemon"; do
    path=${pair%%:*}; pkg=${pair#*:}
    [ -e "$path" ] || { echo "$me: missing $path (Debian package $pkg)" >&2; missing=1; }
  done
  [ "$missing" = 0 ] || exit 3
}

# alive, stop_pid: shared with the other token scripts.
. "$(dirname "$0")/lib.sh"

# An even port P with P and P+1 free on 127.0.0.1: the swtpm TCTI always uses port+1 for control.
# Below the kernel's ephemeral range (32768+), so outgoing connections do not take it meanwhile.
free_port_pair() {
  /usr/bin/python3 -c '
import random, socket
while True:
    p = random.randrange(20000, 32766, 2)
    try:
        for q in (p, p + 1):
            with socket.socket() as s: s.bind(("127.0.0.1", q))
    except OSError: continue
    print(p); break'
}

start() {
  D=$1; local LABEL=$2 SOPIN=$3 PIN=$4 PORT TCTI=tabrmd:bus_type=session
  # On failure, name the failing command and show the end of the logs. Printed by the EXIT trap because
  # an ERR trap inherits the redirections of the failing command (its stderr may be a log file); the
  # EXIT trap has the same problem inside a redirected { } group or function, so this script has none.
  trap 'failed=${failed:-$BASH_COMMAND}' ERR
  trap 'rc=$?; [ "$rc" = 0 ] || { echo "$me start: failed (exit $rc): ${failed:-?}; logs in $D" >&2
                                  tail -n 5 "$D"/*.log >&2 2>/dev/null || true; }' EXIT
  mkdir -p "$D/tpmstate" "$D/store"
  # 1. swtpm. The port pair can be taken between the probe and swtpm's bind, so retry a few times.
  for _ in 1 2 3; do
    PORT=$(free_port_pair)
    swtpm socket --tpm2 --server type=tcp,port="$PORT",bindaddr=127.0.0.1 \
      --ctrl type=tcp,port=$((PORT + 1)),bindaddr=127.0.0.1 --tpmstate dir="$D/tpmstate" \
      --flags not-need-init,startup-clear --pid file="$D/swtpm.pid" --log file="$D/swtpm.log" \
      --daemon < /dev/null >> "$D/swtpm.log" 2>&1 && break
    PORT=
  done
  [ -n "$PORT" ]
  # 2. Private session bus, then abrmd on it in front of swtpm (--allow-root: abrmd refuses root otherwise;
  #    --flush-all: start from an empty TPM object table).
  dbus-daemon --session --address="unix:path=$D/dbus.sock" --nopidfile --fork --print-pid=3 \
    3> "$D/dbus.pid" < /dev/null > "$D/dbus.log" 2>&1
  export DBUS_SESSION_BUS_ADDRESS="unix:path=$D/dbus.sock"
  tpm2-abrmd --session --allow-root --flush-all --tcti="swtpm:host=127.0.0.1,port=$PORT" \
    < /dev/null > "$D/abrmd.log" 2>&1 &
  echo $! > "$D/abrmd.pid"
  # 3. The variables libtpm2_pkcs11.so (TPM2_PKCS11_*) and tpm2-tools/tpm2_ptool (TPM2TOOLS_TCTI) read.
  #    esysdb: the sqlite store in DIR/store, not the FAPI backend (system-wide FAPI config and keystore).
  #    TSS2_LOG=all+NONE: silence the TSS libraries' stderr chatter.
  export TPM2_PKCS11_TCTI=$TCTI TPM2TOOLS_TCTI=$TCTI TPM2_PKCS11_STORE="$D/store" \
         TPM2_PKCS11_BACKEND=esysdb TSS2_LOG=all+NONE
  for _ in $(seq 100); do tpm2_getcap properties-fixed > /dev/null 2>&1 && break; sleep 0.1; done
  tpm2_getcap properties-fixed > /dev/null 2>> "$D/abrmd.log"
  # 4. Store, token, and the secret keys: tpm2-pkcs11 1.9 has no C_GenerateKey, so they are made here.
  # (Redirections on each command, not on a { } group: see the EXIT trap.)
  local LOG=$D/ptool.log
  tpm2_ptool init --path "$D/store" < /dev/null > "$D/init.out" 2>> "$LOG"
  tpm2_ptool addtoken --path "$D/store" --pid "$(sed -n 's/^id: *//p' "$D/init.out")" \
    --label "$LABEL" --sopin "$SOPIN" --userpin "$PIN" < /dev/null >> "$LOG" 2>&1
  tpm2_ptool addkey --path "$D/store" --label "$LABEL" --key-label "$AES_LABEL" --userpin "$PIN" \
    --algorithm aes256 < /dev/null >> "$LOG" 2>&1
  tpm2_ptool addkey --path "$D/store" --label "$LABEL" --key-label "$HMAC_LABEL" --userpin "$PIN" \
    --algorithm hmac:sha256 < /dev/null >> "$LOG" 2>&1
  echo "$AES_LABEL" > "$D/secret-key-label"
  echo "$HMAC_LABEL" > "$D/hmac-key-label"
  echo "$MODULE" > "$D/module"
  cat > "$D/run" <<RUN
#!/bin/bash
# Runs a command with this tpm2-pkcs11 token's variables; keeps the caller's environment, cwd and exit code.
export TPM2_PKCS11_TCTI=$TCTI TPM2TOOLS_TCTI=$TCTI TPM2_PKCS11_BACKEND=esysdb TSS2_LOG=all+NONE
export TPM2_PKCS11_STORE=$(printf %q "$D/store")
export DBUS_SESSION_BUS_ADDRESS=$(printf %q "unix:path=$D/dbus.sock")
exec "\$@"
RUN
  chmod +x "$D/run"
}

stop() {
  local D=$1
  # Clients first, then the bus, then the TPM.
  stop_pid "$D/abrmd.pid" tpm2-abrmd
  stop_pid "$D/dbus.pid" dbus-daemon
  stop_pid "$D/swtpm.pid" swtpm
  rm -rf "$D"
}

token_main "$@"
