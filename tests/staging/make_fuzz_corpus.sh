#!/bin/sh
# Seed corpus for fuzz_extract: small archives from many writers, in every format and codec
# stage reads and some it must refuse, each also cut short and with bits flipped, plus hostile
# archives and the damaged ones fuzzing found before.
# Usage: make_fuzz_corpus.sh DIR [STAGE_BINARY] [REPRO_DIR]
#   STAGE_BINARY adds `stage pack` output; REPRO_DIR's files are copied in as they are.
# A writer missing here (pzstd, bsdtar, python3) only leaves its seeds out.
set -eu
out=$1
stage=${2:-}
repro=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
have() { command -v "$1" >/dev/null 2>&1; }

mkdir -p "$out" "$work/tree/dir/sub" "$work/seeds"
seeds=$work/seeds
printf 'hello\n' > "$work/tree/a.txt"
head -c 3000 /dev/zero | tr '\0' 'x' > "$work/tree/dir/b.bin"
printf 'deep\n' > "$work/tree/dir/sub/c"
ln -sf ../a.txt "$work/tree/dir/link"
ln -f "$work/tree/a.txt" "$work/tree/dir/hard"
# A sparse file: two islands of data in 256 KiB of holes.
printf 'island one' | dd of="$work/tree/sparse.img" bs=1 seek=65536 conv=notrunc 2>/dev/null
printf 'island two' | dd of="$work/tree/sparse.img" bs=1 seek=200000 conv=notrunc 2>/dev/null
truncate -s 262144 "$work/tree/sparse.img"
cd "$work/tree"

# GNU tar: every format, the three sparse versions, multi-volume and incremental headers.
for format in gnu oldgnu posix ustar v7; do
  tar --format=$format -cf "$seeds/gnu-$format.tar" a.txt dir 2>/dev/null || true
done
tar --format=gnu --sparse -cf "$seeds/gnu-sparse-old.tar" sparse.img a.txt
for version in 0.0 0.1 1.0; do
  tar --format=posix --sparse --sparse-version=$version -cf "$seeds/gnu-sparse-$version.tar" \
    sparse.img a.txt
done
tar --format=gnu -M -L 10 -cf "$seeds/gnu-volume-1.tar" -f "$seeds/gnu-volume-2.tar" \
  -f "$seeds/gnu-volume-3.tar" dir sparse.img 2>/dev/null || true
tar --format=gnu --listed-incremental="$work/snapshot" -cf "$seeds/gnu-incremental.tar" .
tar --format=gnu -V 'a volume label' -cf "$seeds/gnu-label.tar" a.txt
tar --format=gnu -cf "$seeds/gnu-label-only.tar" -V 'only a label' -T /dev/null
tar --format=pax -czf "$seeds/gnu-pax.tar.gz" .
tar --format=ustar -cjf "$seeds/gnu-ustar.tar.bz2" a.txt dir
tar --format=gnu -cJf "$seeds/gnu.tar.xz" a.txt dir
tar --format=pax -cf - a.txt dir | zstd -q -c > "$seeds/gnu-pax.tar.zst"

# bsdtar: its own pax, ustar and gnutar writers, and two formats that are not tar at all.
if have bsdtar; then
  bsdtar --format=pax -cf "$seeds/bsd-pax.tar" .
  bsdtar --format=ustar -cf "$seeds/bsd-ustar.tar" a.txt dir
  bsdtar --format=gnutar -cf "$seeds/bsd-gnutar.tar" a.txt dir sparse.img
  bsdtar --format=pax -cJf "$seeds/bsd-pax.tar.xz" a.txt dir
  bsdtar --format=gnutar -cjf "$seeds/bsd-gnutar.tar.bz2" a.txt dir
  bsdtar --format=cpio -cf "$seeds/bsd.cpio" a.txt dir
  bsdtar --format=shar -cf "$seeds/bsd.shar" a.txt dir
fi

# Python's tarfile: names that are not UTF-8, long link targets, pax records of every kind.
if have python3; then
  python3 - "$seeds" <<'EOF'
import io, sys, tarfile
seeds = sys.argv[1]
names = ["caf\xe9".encode("latin-1"), "привет".encode("koi8-r"), "日本語".encode("euc-jp"),
         "файл".encode("cp866")]
for format, tag in ((tarfile.GNU_FORMAT, "gnu"), (tarfile.PAX_FORMAT, "pax")):
    with tarfile.open(f"{seeds}/python-{tag}.tar", "w", format=format,
                      encoding="utf-8", errors="surrogateescape") as tar:
        for raw in names:
            name = raw.decode("utf-8", "surrogateescape")
            data = b"data of " + raw
            member = tarfile.TarInfo("dir_" + name + "/file_" + name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
            link = tarfile.TarInfo("link_" + name)
            link.type, link.linkname = tarfile.SYMTYPE, "dir_" + name + "/file_" + name
            tar.addfile(link)
            hard = tarfile.TarInfo("hard_" + name)
            hard.type, hard.linkname = tarfile.LNKTYPE, "dir_" + name + "/file_" + name
            tar.addfile(hard)
        long_target = "t" * 300
        link = tarfile.TarInfo("long_link")
        link.type, link.linkname = tarfile.SYMTYPE, long_target
        tar.addfile(link)
        member = tarfile.TarInfo("n" * 180 + "/" + "m" * 120)
        member.pax_headers = {"comment": "a comment", "mtime": "1700000000.5",
                              "SCHILY.xattr.user.key": "value"}
        tar.addfile(member, io.BytesIO(b""))
with tarfile.open(f"{seeds}/python-pax-global.tar", "w", format=tarfile.PAX_FORMAT,
                  pax_headers={"comment": "global"}) as tar:
    pass
EOF
fi

# zstd as pzstd writes it: independent frames after a skippable frame.
if have pzstd; then
  tar --format=pax -cf "$work/p.tar" a.txt dir sparse.img
  pzstd -q -p 2 -c "$work/p.tar" > "$seeds/pzstd.tar.zst"
fi
# stage pack's own output: frames and a seek table.
if [ -n "$stage" ] && [ -x "$stage" ]; then
  "$stage" pack --from "$work/tree" --to "$seeds/packed.tar.zst" >/dev/null 2>&1 || true
fi

# Hostile: names climbing out, absolute names, a link out of the destination.
tar --format=gnu --transform='s,^\./a.txt,../../escape,' -cf "$seeds/dotdot.tar" ./a.txt
tar --format=gnu -P --transform='s,^,/abs,' -cf "$seeds/absolute.tar" ./a.txt
ln -s /etc "$work/etc-link"
tar --format=gnu -C "$work" -cf "$seeds/symlink-out.tar" etc-link
printf 'not an archive at all\n' > "$seeds/plain.txt"

# Every seed as it is, cut at 60% of its length, and with a byte in its middle inverted.
for seed in "$seeds"/*; do
  name=$(basename "$seed")
  size=$(wc -c < "$seed")
  cp "$seed" "$out/$name"
  head -c $((size * 6 / 10)) "$seed" > "$out/$name.cut"
  cp "$seed" "$out/$name.flip"
  middle=$((size / 2))
  byte=$(od -An -tu1 -j "$middle" -N1 "$seed" | tr -d ' ')
  printf "\\$(printf '%03o' $((255 - ${byte:-0})))" |
    dd of="$out/$name.flip" bs=1 seek="$middle" conv=notrunc 2>/dev/null
done
if [ -n "$repro" ] && [ -d "$repro" ]; then
  cp "$repro"/* "$out"/
fi
echo "make_fuzz_corpus: $(ls "$out" | wc -l) inputs in $out"
