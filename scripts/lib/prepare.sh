# Shared by start.sh and test.sh: make a fresh clone runnable. Sourced, not executed.
# Each step is fast when there is nothing to do.

kb_die() { echo "keybridge: $*" >&2; exit 1; }

kb_require_node() {
  command -v node >/dev/null || kb_die "Node.js >= 20 is required (https://nodejs.org)."
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || kb_die "Node.js >= 20 is required; this is $(node --version)."
}

# Debian/Ubuntu packages: installed with apt when we are root, otherwise named for the user.
kb_require_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "keybridge: installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "${missing[@]}" >&2
  else
    kb_die "missing system packages: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}"
  fi
}

# Optional packages: installed when we can; when we cannot, the tests that need them say so.
kb_want_packages() {
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then kb_require_packages "$@"; return; fi
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || echo "keybridge: optional package $pkg is not installed; tests that need it will be skipped" >&2
  done
}

# npm dependencies, reinstalled only when package-lock.json changed since the last install.
kb_require_npm_deps() {
  local stamp=node_modules/.keybridge-lock.sha256 want
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  # Native addons (pkcs11js, better-sqlite3) build offline against the installed Node headers.
  if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi
  echo "keybridge: installing npm dependencies" >&2
  npm ci --no-audit --no-fund >&2
  echo "$want" > "$stamp"
}

kb_build() {
  npx tsc -p tsconfig.json >&2 || kb_die "TypeScript build failed"
}
