#!/usr/bin/env bash
# usage: install_test.sh BUILD_DIR MAN_PAGES(ON|OFF) TRAINER(ON|OFF)
# `cmake --install BUILD_DIR --prefix P` into a scratch prefix: the programs run from there (no
# path into the build tree left in them), the man pages describe their options, and the bash
# completions complete commands, options and values. Fails naming the first thing that is wrong.
set -euo pipefail
build=$1 man_pages=$2 trainer=$3
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
fail() { echo "install_test: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null
export PATH="$prefix/bin:/usr/bin:/bin"

# The programs, run from the prefix.
# Outputs are captured before grep reads them: with pipefail, a writer that `grep -q` or `head`
# stopped reading would fail the pipe.
version=$(stage --version)
grep -qE '^stage [0-9]+\.[0-9]+\.[0-9]+ \(git ' <<<"${version%%$'\n'*}" ||
  fail "stage --version: ${version%%$'\n'*}"
mkdir -p "$prefix/work/src/sub"
echo data > "$prefix/work/src/sub/a.txt"
tar -C "$prefix/work/src" -cf "$prefix/work/src/t.tar" sub
stage --from "$prefix/work/src" --to "$prefix/work/dst" -q || fail "stage from the prefix failed"
[ "$(cat "$prefix/work/dst/sub/a.txt")" = data ] || fail "the staged file differs"
if [ "$trainer" = ON ]; then
  version=$(cv_example --version)
  [[ $version == "cv_example "* ]] || fail "cv_example --version"
  help=$(make_pets --help)
  grep -q -- '--count N' <<<"$help" || fail "make_pets --help"
fi

# Man pages from --help: every option of the program is in its page.
if [ "$man_pages" = ON ]; then
  pages="stage stage-pack stage-clean stage-fetch"
  [ "$trainer" = ON ] && pages="$pages cv_example make_pets"
  for page in $pages; do
    file="$prefix/share/man/man1/$page.1"
    [ -s "$file" ] || fail "no man page $page.1"
    grep -q '^\.SH OPTIONS' "$file" || fail "$page.1 has no OPTIONS section"
  done
  grep -q 'retry\\-connrefused' "$prefix/share/man/man1/stage-fetch.1" ||
    fail "stage-fetch.1 lacks --retry-connrefused"
  grep -q 'follow\\-symlinks' "$prefix/share/man/man1/stage.1" || fail "stage.1 lacks --follow-symlinks"
fi

# Bash completions, as bash-completion loads them.
completions="$prefix/share/bash-completion/completions"
[ -f "$completions/stage" ] || fail "no completion for stage"
bash -n "$completions/stage" || fail "the completion script does not parse"
complete_words() {  # prints what completing the words given (the last one being typed) offers
  bash -c '
    [ -f /usr/share/bash-completion/bash_completion ] && . /usr/share/bash-completion/bash_completion
    . "$0"
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    _stage_complete "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf "%s\n" "${COMPREPLY[@]}"
  ' "$completions/stage" "$@"
}
expect() {  # expect WORD WORDS...: completing WORDS offers WORD
  local want=$1; shift
  local offered
  offered=$(complete_words "$@")
  grep -qx -- "$want" <<<"$offered" || fail "completing '$*' does not offer $want"
}
expect fetch stage f
expect --from stage --fr
expect --follow-symlinks stage --fol
expect --retry-connrefused stage fetch --retry-c
expect --random-access stage pack --rand
expect io_uring stage --reads io
if [ "$trainer" = ON ]; then
  [ -f "$completions/cv_example" ] || fail "no completion for cv_example"
  expect --nproc_per_node cv_example --nproc
  expect bf16 cv_example --mixed_precision b
  expect resnet50d cv_example --model resnet50
fi
echo "install_test: installed into a scratch prefix; programs, man pages and completions work"
