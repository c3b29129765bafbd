#!/usr/bin/env bash
# usage: check_shape_test.sh SOURCE_DIR
# scripts/check-shape on a scratch tree: each kind of shape it refuses is reported on the line it
# names, a reason comment excuses a long file or function, and a tree in shape passes.
set -euo pipefail
check=$1/scripts/check-shape
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail() { echo "check_shape_test: $*" >&2; exit 1; }

mkdir -p "$root/staging/src/base" "$root/staging/src/io" "$root/loader/src" "$root/common/src"
# A function of 61 lines, one of 60, and one of 70 with its reason above it.
function_of() {  # NAME LINES: a function whose first and last lines count
  echo "int $1() {"
  for ((i = 0; i < $2 - 2; ++i)); do echo "  call();"; done
  echo "}"
}
{
  echo "namespace loader {"
  function_of too_long 61
  function_of just_right 60
  echo "// shape: long function: a table kept whole."
  function_of excused 70
  echo "}  // namespace loader"
} >"$root/loader/src/functions.cc"
# A file of 401 lines, and one of 450 with its reason.
for ((i = 0; i < 401; ++i)); do echo "// line"; done >"$root/common/src/long.cc"
{ echo "// shape: long file: generated tables."; for ((i = 0; i < 449; ++i)); do echo "//"; done; } \
  >"$root/common/src/excused.cc"
# Includes: base/ pointing up at io/, common/ at staging/, a lambda and a struct initialiser that
# are not functions.
printf '#include "io/dir_tree.h"\n#include "base/block.h"\n' >"$root/staging/src/base/up.cc"
printf '#include "staging/stage.h"\n' >"$root/common/src/upward.cc"
printf '#include "base/block.h"\nint f() {\n  auto g = [] {\n    return 1;\n  };\n  return g();\n}\n' \
  >"$root/staging/src/io/down.cc"

set +e
out=$("$check" "$root" 2>&1)
status=$?
set -e
[ "$status" = 1 ] || fail "exit status $status on a tree out of shape: $out"
expect() { grep -qF -- "$1" <<<"$out" || fail "missing '$1' in: $out"; }
refuse() { ! grep -qF -- "$1" <<<"$out" || fail "unexpected '$1' in: $out"; }
expect "loader/src/functions.cc:2: a function of 61 lines"
refuse "functions.cc:63:"
refuse "a function of 70 lines"
expect "common/src/long.cc: 401 lines"
refuse "excused.cc"
expect "staging/src/base/up.cc:1: includes io/dir_tree.h, a layer above its own"
refuse "up.cc:2"
expect "common/src/upward.cc:1: common/ includes staging/stage.h, a module above it"
refuse "down.cc"
expect "6 files, 4 out of shape"

# In shape once the offenders go.
rm "$root/loader/src/functions.cc" "$root/common/src/long.cc" "$root/staging/src/base/up.cc" \
  "$root/common/src/upward.cc"
"$check" "$root" 2>/dev/null || fail "a tree in shape was refused"
echo "check_shape_test: out-of-shape files, functions and includes reported; reasons respected"
