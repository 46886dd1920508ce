#!/usr/bin/env bash
# Builds the single production binary dist/denvoy with `deno compile`, from the bundle
# dist/denvoy.js (`deno task bundle`: every module, the worker entry and the API descriptors in
# one file), so the binary runs exactly the artifact the tests run.
#
# `deno compile` glues the program onto `denort`, Deno's runtime-only base binary, which it
# normally downloads from Deno's release server (there is no internet here). It looks in two
# places first, in this order:
#   1. DENORT_BIN=/path/to/denort  (read by deno itself; checked in 2.9.6: a wrong path fails
#      with "Could not find denort at '<path>'"), and
#   2. its download cache, $DENO_DIR/dl/release/v<version>/denort-<target>.zip.
# Neither can be replaced by something from npm: no npm package ships denort (`npm view`
# @deno/denort, denort and @deno/denort-linux-x64-glibc all 404), and the full `deno`
# binary from the `deno` npm package is not a base binary (a program compiled onto it just
# starts the REPL). So without one of the two, this script stops and says how to get one.
#
# Usage: bash compile.sh            (or: deno task compile)
#        DENORT_BIN=/opt/denort-2.9.6 bash compile.sh
set -euo pipefail

DENO="${DENO:-npx -y deno@2.9.6}"
cd "$(dirname "${BASH_SOURCE[0]}")"

# `deno --version` prints e.g. "deno 2.9.6 (stable, release, x86_64-unknown-linux-gnu)";
# the base binary must match both the version and the target triple exactly.
version_line="$($DENO --version | head -n 1)"
version="$(sed -E 's/^deno ([^ ]+) .*/\1/' <<<"$version_line")"
target="$(sed -E 's/.*, ([^,)]+)\)$/\1/' <<<"$version_line")"
zip_name="denort-${target}.zip"

deno_dir="${DENO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/deno}"
cached_zip="${deno_dir}/dl/release/v${version}/${zip_name}"

if [[ -n "${DENORT_BIN:-}" ]]; then
  if [[ ! -x "$DENORT_BIN" ]]; then
    echo "compile.sh: DENORT_BIN='$DENORT_BIN' is not an executable file." >&2
    echo "  It must be the denort ${version} binary for ${target} (unzipped from ${zip_name})." >&2
    exit 1
  fi
  export DENORT_BIN
elif [[ ! -f "$cached_zip" ]]; then
  cat >&2 <<EOF
compile.sh: cannot build dist/denvoy: the denort base binary is missing.

  What:  'deno compile' needs denort ${version} for ${target}. DENORT_BIN is not set and
         there is no cached copy at:
           ${cached_zip}
  Why:   deno downloads it from its release server on first use, and this machine has
         no internet access (only the npm registry, which does not ship denort).
  Fix:   on a machine with internet, download ${zip_name} from the Deno GitHub release
         v${version} (https://github.com/denoland/deno/releases/tag/v${version}), unzip it,
         copy the 'denort' file onto this machine, then run:
           DENORT_BIN=/path/to/denort bash compile.sh
         (or put the zip unchanged at the cache path above).
EOF
  exit 1
fi

$DENO run -A build/bundle.ts
# The V8 flags denvoy ships with are baked into the binary (the same as deno.json's start task
# and bench/harness.ts SHIPPED_V8_FLAGS: young generation at 16 MiB semi-spaces from the start).
$DENO compile -A --unstable-net --v8-flags=--min-semi-space-size=16 --output dist/denvoy dist/denvoy.js
echo "compile.sh: built dist/denvoy (deno ${version}, ${target})"
