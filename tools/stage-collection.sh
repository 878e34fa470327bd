#!/usr/bin/env bash
# Copies the working tree to .build/ansible_collections/nodepatch/kube, where ansible-test and
# ANSIBLE_COLLECTIONS_PATH expect a collection; prints the collections root. A copy, not a symlink:
# ansible-test resolves the physical working directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
final="$root/.build/ansible_collections/nodepatch/kube"
# Built aside and swapped in, so a test run using the staged copy meanwhile never sees it half-written.
dest="$root/.build/.stage-$$"
rm -rf "$dest"
mkdir -p "$dest" "$(dirname "$final")"
cd "$root"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard
else
  find . -type f -not -path './.git/*' -not -path './.venv/*' -not -path './.build/*' -printf '%P\0'
fi | grep -z -v -E '^(\.build|\.venv|tests/output)/' | while IFS= read -r -d '' f; do
  # git still lists files deleted from the working tree until the deletion is staged
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar -cf - --null -T - | tar -xf - -C "$dest"
(cd "$dest" && git init -q . && git add -A)  # ansible-test lists targets with git; .build is ignored by the outer repo
old="$root/.build/.old-$$"
[ -e "$final" ] && mv "$final" "$old"
mv "$dest" "$final"
rm -rf "$old"
echo "$root/.build"
