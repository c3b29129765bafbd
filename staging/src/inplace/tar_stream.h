// The tar stream inside an archive, read at any offset: the file itself for a plain tar, or the
// decoded frames of a `stage pack` archive (each frame decodes on its own, so reading a member
// decodes only the frames it lies in).
#pragma once

#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "decode/zstd_seek_table.h"
#include "inplace/archive_file.h"
#include "staging/status.h"

namespace staging {

// One reader of the tar stream; not thread-safe (make one per thread). Reading forward from
// where the last read ended is cheapest: a packed frame then keeps decoding where it was.
class TarStream {
 public:
  virtual ~TarStream() = default;
  // Copies the stream's bytes [offset, offset + len) into `out`; `*got` is short only at the
  // end of the stream.
  virtual Status Read(uint64_t offset, std::byte* out, size_t len, size_t* got) = 0;
  virtual uint64_t size() const = 0;
};

// A plain tar: the file's bytes. `in_file_order`: read through the file's preload, waiting for
// it (ArchiveFile::ReadInFileOrder), for a pass over the whole file.
std::unique_ptr<TarStream> PlainTarStream(const ArchiveFile& file, bool in_file_order = false);

// A packed archive: `frames` from its seek table, whose decoded sizes tile the stream. Compressed
// bytes are read `chunk` at a time (small for a pass over headers, large for members).
std::unique_ptr<TarStream> PackedTarStream(const ArchiveFile& file,
                                           const std::vector<ZstdFrameInfo>& frames, size_t chunk,
                                           bool in_file_order = false);

// A plain tar arriving in order (a download): `blocks` carry consecutive stream offsets from 0.
// Read forward only, as a pass over the headers does; bytes behind the last read are gone, so a
// read behind it fails. size() is unknown (UINT64_MAX): reads come up short at the end instead.
// A failed queue (the arrival stopped) fails the read.
std::unique_ptr<TarStream> ArrivingTarStream(BoundedQueue<BlockRef>& blocks);

// The frame whose decoded bytes hold `offset` (frames.size() when past the end).
size_t FrameAt(const std::vector<ZstdFrameInfo>& frames, uint64_t offset);

}  // namespace staging
