# shellcheck shell=bash
# Sourced by build.sh for `build.sh kured` (it has set cache, GOPATH, GOCACHE, log and versions.env).
# Prints the directory holding `kured` and `kured-rbac.yaml`, cached outside the clone by kured's revision.
# kured is a test peer only: its source is never copied into this repository, only unpacked into the cache.

no_kured() {
  log "no kured: $*"
  log "give one with NODEPATCH_KURED_BIN=/path/to/kured or NODEPATCH_KURED_SRC=<source tree | tarball | directory" \
    "holding kured-<rev>.tar.gz> (../shared/kured/ beside the clone is used when it is there); see docs/testbed.md"
  exit 3
}

# A revision names the cache entry: the commit a `git archive` tarball records, a checkout's HEAD, else a hash of
# the files that go into the build.
tarball_revision() {
  local rev=""
  command -v git >/dev/null && rev=$(gzip -dc "$1" | git get-tar-commit-id 2>/dev/null || true)
  [ -n "$rev" ] || rev=src-$(sha256sum "$1" | cut -c1-16)
  echo "$rev"
}

tree_revision() {
  local rev=""
  rev=$(git -C "$1" rev-parse HEAD 2>/dev/null || true)
  [ -n "$rev" ] || rev=src-$(cd "$1" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  echo "$rev"
}

kured_ready() { [ -x "$1/kured" ] && [ -f "$1/kured-rbac.yaml" ]; }

build_kured_tree() {  # source tree, output directory, revision
  local out=$2
  mkdir -p "$out"
  log "building kured ${3:0:12} from $1 (3-5 min cold on 2 cores)"
  local start
  start=$(date +%s)
  (cd "$1" && go build -trimpath -ldflags "-s -w -X main.version=${3:0:12}" -o "$out/kured.tmp" ./cmd/kured)
  cp "$1/kured-rbac.yaml" "$out/kured-rbac.yaml"
  mv "$out/kured.tmp" "$out/kured"
  log "kured ready in $out after $(( $(date +%s) - start )) s"
}

cache=${cache:?build-kured.sh is sourced by build.sh}
# One build at a time: the test suite and the benchmarks may ask at once.
mkdir -p "$cache/bin"
exec 9>"$cache/kured.lock"
command -v flock >/dev/null && flock 9

# Where this project's machines keep kured's source: shared/kured/ beside the clone (the module proxy refuses the
# kured module there), so `make test` and .ci/run find it alike.
beside=${here:?build-kured.sh is sourced by build.sh}/../../../shared/kured
if [ -z "${NODEPATCH_KURED_BIN:-}${NODEPATCH_KURED_SRC:-}" ] && [ -d "$beside" ]; then
  NODEPATCH_KURED_SRC=$(cd "$beside" && pwd)
fi

if [ -n "${NODEPATCH_KURED_BIN:-}" ]; then
  [ -x "$NODEPATCH_KURED_BIN" ] || { log "NODEPATCH_KURED_BIN=$NODEPATCH_KURED_BIN is not an executable file"; exit 1; }
  rbac=$(dirname "$NODEPATCH_KURED_BIN")/kured-rbac.yaml
  if [ ! -f "$rbac" ] && [ -n "${NODEPATCH_KURED_SRC:-}" ]; then
    rbac=$NODEPATCH_KURED_SRC/kured-rbac.yaml
  fi
  [ -f "$rbac" ] || { log "NODEPATCH_KURED_BIN: no kured-rbac.yaml beside it; put kured's RBAC manifest there or set NODEPATCH_KURED_SRC to kured's source tree"; exit 1; }
  out="$cache/bin/kured-bin-$(sha256sum "$NODEPATCH_KURED_BIN" | cut -c1-16)"
  mkdir -p "$out"
  ln -sf "$(cd "$(dirname "$NODEPATCH_KURED_BIN")" && pwd)/$(basename "$NODEPATCH_KURED_BIN")" "$out/kured"
  cp "$rbac" "$out/kured-rbac.yaml"
  echo "$out"
elif [ -n "${NODEPATCH_KURED_SRC:-}" ]; then
  src=$NODEPATCH_KURED_SRC
  if [ -d "$src" ] && [ ! -f "$src/go.mod" ]; then
    mapfile -t found < <(find "$src" -maxdepth 1 -name 'kured-*.tar.gz' | sort)
    [ "${#found[@]}" = 1 ] || { log "NODEPATCH_KURED_SRC=$src: neither a source tree (go.mod) nor a directory with exactly one kured-*.tar.gz"; exit 1; }
    src=${found[0]}
  fi
  if [ -f "$src" ]; then
    rev=$(tarball_revision "$src")
  elif [ -f "$src/go.mod" ]; then
    rev=$(tree_revision "$src")
  else
    log "NODEPATCH_KURED_SRC=$src does not exist"
    exit 1
  fi
  out="$cache/bin/kured-${rev:0:12}"
  if ! kured_ready "$out"; then
    [ "$rev" = "$KURED_VERSION" ] || log "note: kured source revision $rev is not the pinned $KURED_VERSION"
    if [ -f "$src" ]; then
      work="$cache/src/kured-${rev:0:12}"
      rm -rf "$work" && mkdir -p "$work"
      tar -xzf "$src" -C "$work" --strip-components=1
      [ -f "$work/go.mod" ] || { log "$src does not unpack to a Go source tree (no go.mod at its top)"; exit 1; }
      build_kured_tree "$work" "$out" "$rev"
    else
      build_kured_tree "$(cd "$src" && pwd)" "$out" "$rev"
    fi
  fi
  echo "$out"
else
  out="$cache/bin/kured-${KURED_VERSION:0:12}"
  if ! kured_ready "$out"; then
    module=github.com/kubereboot/kured
    log "NODEPATCH_KURED_BIN and NODEPATCH_KURED_SRC are unset: trying go install $module/cmd/kured@$KURED_VERSION"
    mkdir -p "$out"
    if ! answer=$(GOBIN="$out" go install -trimpath -ldflags "-s -w -X main.version=${KURED_VERSION:0:12}" \
        "$module/cmd/kured@$KURED_VERSION" 2>&1); then
      rmdir "$out" 2>/dev/null || true
      no_kured "go install failed: $(echo "$answer" | tail -3)"
    fi
    dir=$(go mod download -json "$module@$KURED_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    cp "$dir/kured-rbac.yaml" "$out/kured-rbac.yaml"
  fi
  echo "$out"
fi
