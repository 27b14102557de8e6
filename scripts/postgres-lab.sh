#!/usr/bin/env bash
# PostgreSQL lab: a throw-away PostgreSQL cluster whose whole state lives in DIR (used by
# test/support/postgres-lab.ts), in the style of the token labs (scripts/tokens/).
#   postgres-lab.sh check                   exit 1 and name the Debian package if something is missing
#   postgres-lab.sh start DIR PASSWORD_FILE initdb DIR/data (superuser postgres, password = first line
#                                           of PASSWORD_FILE, scram-sha-256) and start it on a free
#                                           port of 127.0.0.1; prints the port (also in DIR/port).
#                                           After a failure, run stop DIR (a server may be left running).
#   postgres-lab.sh halt DIR                stop the server, keep data and port
#   postgres-lab.sh start-again DIR         start a halted server again (same data, same port)
#   postgres-lab.sh stop DIR                stop the server if running (immediate) and remove DIR
# initdb and the server refuse to run as root: as root they run as the OS user postgres (which
# Debian's postgresql package creates), and DIR is handed over to that user.
set -Eeuo pipefail   # -E: the ERR trap below also fires inside functions
me=$(basename "$0")
PGUSER_OS=postgres

# Highest installed major's server binaries (Debian: /usr/lib/postgresql/<major>/bin); empty if none.
find_bin() {
  local dir best=
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5n); do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ] && best=$dir
  done
  echo "$best"
}
BIN=$(find_bin)

check() {
  [ -n "$BIN" ] || { echo "$me: no PostgreSQL server (initdb, pg_ctl, postgres in /usr/lib/postgresql/*/bin; Debian package postgresql)" >&2; exit 1; }
  if [ "$(id -u)" = 0 ]; then
    id -u "$PGUSER_OS" >/dev/null 2>&1 || { echo "$me: running as root needs the OS user $PGUSER_OS (created by Debian package postgresql)" >&2; exit 1; }
    command -v runuser >/dev/null || { echo "$me: running as root needs runuser (Debian package util-linux)" >&2; exit 1; }
  fi
}

# Runs a command as the user that owns the cluster; a failure is named by its expanded command line.
# fd 3 (see on_failure_show_logs) is closed for it: the server must not hold our caller's stderr open.
as_pg() {
  local rc=0
  if [ "$(id -u)" = 0 ]; then runuser -u "$PGUSER_OS" -- "$@" 3>&- || rc=$?; else "$@" 3>&- || rc=$?; fi
  [ "$rc" = 0 ] || failed=${failed:-$*}
  return "$rc"
}

pg_running() {   # pg_ctl status: 0 running, 3 not running (not a failure)
  as_pg "$BIN/pg_ctl" -D "$D/data" status > /dev/null 2>&1 && return 0
  failed=; return 1
}

# A port of 127.0.0.1 free right now, below the ephemeral range when there is room: there neither the
# kernel (outgoing connections) nor other tests' freePort() (test/support/free-port.ts) will take it
# while the server is halted or between our probe and its bind.
pick_port() {
  node -e '
    const net = require("net"), fs = require("fs");
    let low = 32768;
    try { low = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]); } catch {}
    const attempt = (left) => {
      const port = left > 0 && low > 11000 ? 10000 + Math.floor(Math.random() * (low - 10000)) : 0;
      const srv = net.createServer();
      srv.once("error", () => attempt(left - 1));
      srv.listen(port, "127.0.0.1", () => { const p = srv.address().port; srv.close(() => console.log(p)); });
    };
    attempt(20);'
}

# On failure, name the failing command and show the end of the logs. Printed by the EXIT trap because
# an ERR trap inherits the redirections of the failing command (its stderr may be a log file); so may
# the EXIT trap when set -e exits inside a redirected function call, hence the saved stderr on fd 3.
on_failure_show_logs() {
  action=$1
  exec 3>&2
  trap 'failed=${failed:-$BASH_COMMAND}' ERR
  trap 'rc=$?; [ "$rc" = 0 ] || { echo "$me $action: failed (exit $rc): ${failed:-?}; logs in $D" >&3
                                  tail -n 20 "$D"/*.log >&3 2>/dev/null || true; }' EXIT
}

pg_start() {
  as_pg "$BIN/pg_ctl" -D "$D/data" -l "$D/postgres.log" -w -t 60 start >> "$D/pg_ctl.log" 2>&1
}

start() {
  D=$1; local PWFILE=$2 port started=
  [ -r "$PWFILE" ] || { echo "$me: cannot read password file $PWFILE" >&2; exit 1; }
  on_failure_show_logs start
  mkdir -p "$D"
  # The password file is copied into DIR for the cluster's user, and removed once initdb has read it.
  if [ "$(id -u)" = 0 ]; then
    chown "$PGUSER_OS:" "$D"; chmod 0700 "$D"
    install -m 0600 -o "$PGUSER_OS" -g "$(id -gn "$PGUSER_OS")" "$PWFILE" "$D/pwfile"
    as_pg test -w "$D" || { failed="user $PGUSER_OS cannot reach $D (a parent directory is closed to it; set TMPDIR?)"; exit 1; }
  else
    install -m 0600 "$PWFILE" "$D/pwfile"
  fi
  # --no-sync: skips only initdb's final flush of its fresh files (slow on some disks), nothing that a
  # crash of the server (not of the machine) could lose; the server itself keeps fsync on.
  as_pg "$BIN/initdb" -D "$D/data" -U postgres --pwfile="$D/pwfile" --auth=scram-sha-256 \
    --encoding=UTF8 --locale=C --no-sync < /dev/null > "$D/initdb.log" 2>&1
  rm -f "$D/pwfile"
  # The lab's settings live in their own file, rewritten for each port tried below.
  echo "include 'lab.conf'" >> "$D/data/postgresql.conf"
  # Another process may take the probed port before the server binds it: then try another one.
  for _ in 1 2 3 4 5; do
    port=$(pick_port)
    [[ "$port" =~ ^[0-9]+$ ]]
    # unix_socket_directories: DIR, not /var/run/postgresql (root's, and shared with the host's server).
    # fsync is on by default; said here because the durability tests rely on it.
    as_pg tee "$D/data/lab.conf" > /dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$D'
fsync = on
CONF
    local before; before=$(stat -c %s "$D/postgres.log" 2>/dev/null || echo 0)
    if pg_start; then started=1; break; fi
    tail -c +$((before + 1)) "$D/postgres.log" 2>/dev/null | grep -q 'could not bind\|Address already in use' || break
  done
  [ -n "$started" ] || { failed="pg_ctl start (see postgres.log)"; exit 1; }
  echo "$port" > "$D/port"
  echo "$port"
}

halt() {
  D=$1
  on_failure_show_logs halt
  [ -s "$D/port" ] || { failed="no lab started in $D"; exit 1; }
  pg_running || return 0
  as_pg "$BIN/pg_ctl" -D "$D/data" -m fast -w -t 60 stop >> "$D/pg_ctl.log" 2>&1
}

start_again() {
  D=$1
  on_failure_show_logs start-again
  [ -s "$D/port" ] || { failed="no lab started in $D"; exit 1; }
  pg_running || pg_start
  cat "$D/port"
}

# Whether pid $1 is DIR's postmaster, running (a zombie's command line is empty; pid 1 may reap late).
ours() { [[ "$1" =~ ^[0-9]+$ ]] && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "-D $D/data "; }

# Must work on a half-created DIR, with a missing user or package, and on a missing DIR.
stop() {
  D=$1; local pid
  if [ -f "$D/data/postmaster.pid" ] \
     && ! { [ -n "$BIN" ] && as_pg "$BIN/pg_ctl" -D "$D/data" -m immediate -w -t 30 stop >> "$D/pg_ctl.log" 2>&1; }; then
    # pg_ctl could not do it: SIGQUIT is the postmaster's immediate shutdown, then SIGKILL (its
    # backends exit by themselves once they see the postmaster gone). The pid must still be this
    # cluster's postmaster (its command line names DIR/data), not a recycled pid.
    pid=$(head -n 1 "$D/data/postmaster.pid" 2>/dev/null || true)
    if ours "$pid"; then
      kill -QUIT "$pid" 2>/dev/null || true
      for _ in $(seq 50); do ours "$pid" || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$D"
}

# Paths are made absolute, then the commands run from / (initdb and pg_ctl complain about a cwd such
# as /root that the cluster's user cannot enter).
case ${1:-} in
  check) check ;;
  start) [ $# -eq 3 ] || { echo "usage: $me start DIR PASSWORD_FILE" >&2; exit 2; }
         dir=$(realpath -m "$2"); pwfile=$(realpath -m "$3"); cd /
         check; start "$dir" "$pwfile" ;;
  halt|start-again|stop)
         [ $# -eq 2 ] || { echo "usage: $me $1 DIR" >&2; exit 2; }
         dir=$(realpath -m "$2"); cd /
         case $1 in halt) check; halt "$dir" ;; start-again) check; start_again "$dir" ;; stop) stop "$dir" ;; esac ;;
  *) echo "usage: $me check | start DIR PASSWORD_FILE | halt DIR | start-again DIR | stop DIR" >&2; exit 2 ;;
esac
