#!/usr/bin/env bash
# Imports a built collection tarball with galaxy-importer, the checks Galaxy and Automation Hub run on upload
# (metadata, role READMEs, ansible-doc of every plugin and role, changelog, execution-environment files, and
# ansible-lint --offline with their production profile). Fails on any warning or error the importer logs: it exits
# 0 even when the import failed. Runs in a fresh network namespace when the user may create one, which proves it
# needs no network; elsewhere it runs as it is.
set -euo pipefail
tarball=$(realpath "${1:?usage: tools/galaxy-import.sh nodepatch-kube-X.Y.Z.tar.gz}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GALAXY_IMPORTER_TMP_ROOT_DIR=$work GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP=$work/ansible-tmp
export GALAXY_IMPORTER_OFFLINE_ANSIBLE_LINT=true GALAXY_IMPORTER_RUN_ANSIBLE_TEST=false
isolate=()
if unshare --net true 2>/dev/null; then
  isolate=(unshare --net --)
fi
# It leaves importer_result.json in its working directory.
(cd "$work" && "${isolate[@]}" python -m galaxy_importer.main "$tarball") >"$work/log" 2>&1 || true
grep -v '^Loading ' "$work/log"
if grep -q -E '^(WARNING|ERROR)|Traceback' "$work/log" || ! grep -q '^Importer processing completed successfully' "$work/log"; then
  echo "galaxy-importer: the import of $tarball is not clean (see above)"
  exit 1
fi
echo "galaxy-importer: $tarball imports cleanly${isolate:+ (offline, in its own network namespace)}"
