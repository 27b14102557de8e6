#!/usr/bin/env bash
# Token lab: a throw-away openCryptoki 3.8 soft token whose whole state lives in DIR (used by
# test/support/token-lab.ts). Needs root.
#   opencryptoki.sh start DIR LABEL SOPIN PIN   PINs: 4-8 characters; SOPIN must not be 87654321.
#                                               Writes DIR/module and DIR/run (DIR/run cmd args...
#                                               runs cmd inside this instance's namespaces).
#   opencryptoki.sh stop DIR                    stops pkcsslotd and the namespace holder, removes DIR
#   opencryptoki.sh check                       exit 3 and name the Debian package if something is missing
#
# Why namespaces: openCryptoki 3.8 has its config, token store, lock dir, pkcsslotd socket/pid file and
# shared memory at compiled-in paths (/etc/opencryptoki, /var/lib/opencryptoki, /run, /var/lock,
# /dev/shm, SysV shm keyed on /usr/sbin/pkcsslotd) and no variable to move them. A private mount + IPC
# namespace with DIR's subfolders bind-mounted over those paths gives each instance its own pkcsslotd
# and token without touching the host, and lets several instances run at once. The library only finds
# the token from inside that namespace, hence DIR/run.
set -Eeuo pipefail   # -E: the ERR trap below also fires inside functions
MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so
DEFAULT_SOPIN=87654321
me=$(basename "$0")

check() {
  local pair path pkg missing=0
  for pair in "$MODULE:libopencryptoki0" \
              "/usr/lib/x86_64-linux-gnu/opencryptoki/stdll/libpkcs11_sw.so:libopencryptoki0" \
              "/usr/sbin/pkcsslotd:opencryptoki" "/usr/sbin/pkcsconf:opencryptoki" \
              "/usr/bin/unshare:util-linux" "/usr/bin/nsenter:util-linux"; do
    path=${pair%%:*}; pkg=${pair#*:}
    [ -e "$path" ] || { echo "$me: missing $path (Debian package $pkg)" >&2; missing=1; }
  done
  [ "$(id -u)" = 0 ] || { echo "$me: needs root (mount namespaces; pkcsslotd insists on euid 0)" >&2; missing=1; }
  getent group pkcs11 >/dev/null || { echo "$me: group pkcs11 missing (Debian package opencryptoki)" >&2; missing=1; }
  [ "$missing" = 0 ] || exit 3
}

# alive, stop_pid: shared with the other token scripts.
. "$(dirname "$0")/lib.sh"

start() {
  D=$1; local LABEL=$2 SOPIN=$3 PIN=$4 NS
  [ ${#SOPIN} -ge 4 ] && [ ${#SOPIN} -le 8 ] && [ ${#PIN} -ge 4 ] && [ ${#PIN} -le 8 ] \
    || { echo "$me: openCryptoki PINs must be 4-8 characters" >&2; exit 1; }
  [ "$SOPIN" != "$DEFAULT_SOPIN" ] || { echo "$me: SO PIN must differ from the default $DEFAULT_SOPIN" >&2; exit 1; }
  # On failure, name the failing command and show the end of the logs. Printed by the EXIT trap because
  # an ERR trap inherits the redirections of the failing command (its stderr may be a log file); the
  # EXIT trap has the same problem inside a redirected { } group or function, so this script has none.
  trap 'failed=${failed:-$BASH_COMMAND}' ERR
  trap 'rc=$?; [ "$rc" = 0 ] || { echo "$me start: failed (exit $rc): ${failed:-?}; logs in $D" >&2
                                  tail -n 5 "$D"/*.log >&2 2>/dev/null || true; }' EXIT
  mkdir -p "$D"/{etc,lib/swtok/TOK_OBJ,varrun/lock/opencryptoki/swtok,varlog/opencryptoki,shm}
  printf 'version opencryptoki-3.1\nslot 0\n{\nstdll = libpkcs11_sw.so\ndescription = "token lab soft token"\n}\n' \
    > "$D/etc/opencryptoki.conf"
  # The token store and lock files must belong to group pkcs11 (what the package sets up on the host).
  chgrp -R pkcs11 "$D/lib" "$D/varrun/lock" "$D/varlog/opencryptoki"
  chmod -R 0770 "$D/lib" "$D/varrun/lock/opencryptoki" "$D/varlog/opencryptoki"
  chmod 1777 "$D/varrun/lock" "$D/shm"; chmod 0755 "$D/varrun"
  # Namespace holder: keeps the private namespace (and so its mounts) alive until stop. --propagation
  # private keeps the bind mounts from leaking to the host. unshare and bash exec, so $! is its pid.
  unshare --mount --ipc --propagation private bash -ec '
    mount --bind "$1/etc"    /etc/opencryptoki
    mount --bind "$1/lib"    /var/lib/opencryptoki
    mount --bind "$1/varrun" /run               # /var/run/pkcsslotd.{socket,pid}; /var/lock is /run/lock
    mount --bind "$1/varlog" /var/log           # pkcsslotd would mkdir /var/log/opencryptoki
    mount --bind "$1/shm"    /dev/shm           # the token'\''s POSIX shm segment
    exec sleep infinity' _ "$D" < /dev/null > "$D/ns.log" 2>&1 &
  echo $! > "$D/ns.pid"; NS=$!
  # The mounts are done once the holder is sleeping; if it died, a mount failed (see ns.log).
  for _ in $(seq 50); do [ "$(cat "/proc/$NS/comm" 2>/dev/null)" = sleep ] && break; sleep 0.1; done
  [ "$(cat "/proc/$NS/comm" 2>/dev/null)" = sleep ]
  # Everything below runs in the namespace. (Redirections on each command, not on a { } group or a
  # function: see the EXIT trap.)
  local NSE=(nsenter -t "$NS" -m -i --) LOG=$D/pkcsconf.log
  # pkcsslotd always daemonizes (no foreground option) and writes DIR/varrun/pkcsslotd.pid.
  "${NSE[@]}" /usr/sbin/pkcsslotd < /dev/null > "$D/pkcsslotd.log" 2>&1
  for _ in $(seq 50); do [ -S "$D/varrun/pkcsslotd.socket" ] && [ -s "$D/varrun/pkcsslotd.pid" ] && break; sleep 0.1; done
  [ -S "$D/varrun/pkcsslotd.socket" ]
  echo "$LABEL" | "${NSE[@]}" pkcsconf -c 0 -I -S "$DEFAULT_SOPIN" >> "$LOG" 2>&1   # -I reads the label from stdin
  # After -I the SO PIN is flagged "to be changed": SO object operations get CKR_PIN_EXPIRED until it
  # is changed, so change it right away, then set the user PIN.
  "${NSE[@]}" pkcsconf -c 0 -P -S "$DEFAULT_SOPIN" -n "$SOPIN" < /dev/null >> "$LOG" 2>&1
  "${NSE[@]}" pkcsconf -c 0 -u -S "$SOPIN" -n "$PIN" < /dev/null >> "$LOG" 2>&1
  echo "$MODULE" > "$D/module"
  cat > "$D/run" <<RUN
#!/bin/bash
# Runs a command inside this openCryptoki instance's mount+IPC namespace; keeps the caller's
# environment and exit code. --wd: nsenter -m would otherwise change to /.
exec nsenter -t $NS -m -i --wd="\$PWD" -- "\$@"
RUN
  chmod +x "$D/run"
}

stop() {
  local D=$1
  # SIGTERM makes pkcsslotd remove its SysV shm and socket; its pid file is in the bind-mounted DIR/varrun.
  stop_pid "$D/varrun/pkcsslotd.pid" pkcsslotd
  # The namespace (and its mounts) goes away with its last process.
  stop_pid "$D/ns.pid" sleep
  rm -rf "$D"
}

token_main "$@"
