#!/bin/sh
# Seed corpus for fuzz_extract: small archives made by GNU tar and bsdtar, in every format and
# codec stage reads, plus a few hostile ones. Usage: make_fuzz_corpus.sh DIR
set -eu
out=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/tree/dir/sub"
printf 'hello\n' > "$work/tree/a.txt"
head -c 3000 /dev/zero | tr '\0' 'x' > "$work/tree/dir/b.bin"
printf 'deep\n' > "$work/tree/dir/sub/c"
ln -sf ../a.txt "$work/tree/dir/link"
ln -f "$work/tree/a.txt" "$work/tree/dir/hard"
cd "$work/tree"
tar --format=gnu -cf "$out/gnu.tar" .
tar --format=pax -cf "$out/pax.tar" .
tar --format=ustar -czf "$out/ustar.tar.gz" .
tar --format=pax --zstd -cf "$out/pax.tar.zst" . 2>/dev/null || zstd -q -c "$out/pax.tar" > "$out/pax.tar.zst"
bsdtar --format=ustar -cf "$out/bsd-ustar.tar" .
bsdtar --format=pax -cJf "$out/bsd-pax.tar.xz" .
bsdtar --format=gnutar -cjf "$out/bsd-gnu.tar.bz2" .
tar --format=gnu --transform='s,^\./a.txt,../../escape,' -cf "$out/dotdot.tar" ./a.txt
tar --format=gnu -P --transform='s,^,/abs,' -cf "$out/absolute.tar" ./a.txt
ln -s /etc "$work/etc-link"
tar --format=gnu -C "$work" -cf "$out/symlink-out.tar" etc-link
printf 'not an archive at all\n' > "$out/plain.txt"
