# Sourced by the token lab scripts (scripts/tokens/*.sh), which set $me and define check, start and
# stop. Not executed.

# Running = exists and is not a zombie (daemons are reparented to pid 1, which may reap them late).
alive() { local st; st=$(sed -n 's/^State:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null) && [ -n "$st" ] && [ "${st:0:1}" != Z ]; }

# Stop the process whose pid is in file $1 if it is still the expected program $2 (guards against
# a recycled pid): SIGTERM, then SIGKILL after ~5 s.
stop_pid() {
  local P
  P=$(cat "$1" 2>/dev/null) || return 0
  [[ "$P" =~ ^[0-9]+$ ]] && alive "$P" && [ "$(cat "/proc/$P/comm" 2>/dev/null)" = "$2" ] || return 0
  kill -TERM "$P" 2>/dev/null || return 0
  for _ in $(seq 50); do alive "$P" || return 0; sleep 0.1; done
  echo "$me: $2 ($P) ignored SIGTERM, sending SIGKILL" >&2
  kill -KILL "$P" 2>/dev/null || true
}

# The scripts' command line: check | start DIR LABEL SOPIN PIN | stop DIR.
token_main() {
  case ${1:-} in
    check) check ;;
    start) [ $# -eq 5 ] || { echo "usage: $me start DIR LABEL SOPIN PIN" >&2; exit 2; }
           check; start "$(realpath -m "$2")" "$3" "$4" "$5" ;;
    stop)  [ $# -eq 2 ] || { echo "usage: $me stop DIR" >&2; exit 2; }
           stop "$(realpath -m "$2")" ;;
    *) echo "usage: $me check | start DIR LABEL SOPIN PIN | stop DIR" >&2; exit 2 ;;
  esac
}
