#!/usr/bin/env bash
# Builds (or reuses) the test bed's Go binaries into a cache outside the clone, keyed by version.
# NODEPATCH_TESTBED_BIN=/path points at prebuilt binaries instead (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok must all be there) and skips the build.
#
# `build.sh kured` does the same for kured, the test peer, and prints the directory holding `kured` and its
# `kured-rbac.yaml`. Where from, first match wins: NODEPATCH_KURED_BIN (a prebuilt binary; the RBAC manifest
# beside it or in NODEPATCH_KURED_SRC), NODEPATCH_KURED_SRC (a source tree, a `git archive` tarball, or a
# directory holding one such tarball), else `go install github.com/kubereboot/kured/cmd/kured@$KURED_VERSION`.
# Exit 3 means none of them gave a kured (the kured tests say so and skip, or fail under CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
. "$here/versions.env"

cache=${NODEPATCH_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodepatch-testbed}
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
export GOPATH=${GOPATH:-$cache/gopath} GOCACHE=${GOCACHE:-$cache/gocache}

log() { printf '[testbed-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ "${1:-}" = kured ]; then
  # shellcheck source=tests/testbed/build-kured.sh
  . "$here/build-kured.sh"
  exit 0
fi

if [ -n "${NODEPATCH_TESTBED_BIN:-}" ]; then
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok; do
    [ -x "$NODEPATCH_TESTBED_BIN/$b" ] || { log "NODEPATCH_TESTBED_BIN=$NODEPATCH_TESTBED_BIN has no executable $b"; exit 1; }
  done
  echo "$NODEPATCH_TESTBED_BIN"
  exit 0
fi

bin="$cache/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
# Warm path: every binary already built for these versions; nothing to resolve or compile.
all_present=1
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok; do
  [ -x "$bin/$b" ] || all_present=0
done
if [ "$all_present" = 1 ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"
start=$(date +%s)

build_kubernetes() {
  local src="$cache/src/kubernetes-$K8S_VERSION" minor=${K8S_VERSION#*.}
  minor=${minor%%.*}
  local staging="0.${K8S_VERSION#*.}"
  mkdir -p "$src"
  log "resolving k8s.io/kubernetes v$K8S_VERSION"
  local gomod
  gomod=$(cd "$src" && go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module nodepatch.local/testbed/kubernetes"
    echo
    grep -E '^go ' "$gomod"
    echo
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 v'"$staging"'#p' "$gomod"
    echo ")"
  } > "$src/go.mod"
  cat > "$src/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$src" && { go mod tidy -e >/dev/null 2>&1 || true; })
  (cd "$src" && go mod download)
  local vpkg=k8s.io/component-base/version
  local ldflags="-s -w -X $vpkg.gitVersion=v$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
  ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    if [ ! -x "$bin/$cmd" ]; then
      log "building $cmd v$K8S_VERSION"
      (cd "$src" && go build -tags tools -trimpath -ldflags "$ldflags" -o "$bin/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
      mv "$bin/$cmd.tmp" "$bin/$cmd"
    fi
  done
}

build_etcd() {
  local src="$cache/src/etcd-$ETCD_VERSION"
  mkdir -p "$src"
  cat > "$src/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  if [ ! -f "$src/go.mod" ]; then
    (cd "$src" && go mod init nodepatch.local/testbed/etcd >/dev/null 2>&1 && go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >/dev/null 2>&1 && go mod tidy >/dev/null 2>&1)
  fi
  log "building etcd v$ETCD_VERSION"
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" .)
  mv "$bin/etcd.tmp" "$bin/etcd"
}

build_kwok() {
  log "building kwok v$KWOK_VERSION"
  GOBIN="$bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
}

[ -x "$bin/etcd" ] || build_etcd
[ -x "$bin/kwok" ] || build_kwok
build_kubernetes
log "binaries ready in $bin after $(( $(date +%s) - start )) s"
echo "$bin"
