#!/usr/bin/env bash
# Style gate (ctest label "lint"): every tracked C source and header is clang-format clean.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v clang-format >/dev/null || { echo "clang-format missing"; exit 77; }
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find base formats engine server tools tests bench -name '*.[ch]')
[ ${#files[@]} -gt 0 ] || { echo "no sources found"; exit 1; }
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  printf 'not clang-format clean (run `make format`):\n'; printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "format ok: ${#files[@]} files"
