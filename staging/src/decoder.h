// The decode stage: compressed source blocks in, decoded blocks out, in order. gzip goes through
// ISA-L, zstd through libzstd (window capped), anything else passes through untouched for
// libarchive's own filters.
#pragma once

#include "block.h"
#include "codec.h"
#include "staging/status.h"

namespace staging {

// zstd frames needing a window above this are refused (a 2 GiB window is a memory bomb).
inline constexpr int kZstdMaxWindowLog = 27;  // 128 MiB

class RestartPointSink;

// Pulls every block from `in` and pushes decoded blocks from `pool` to `out`; returns at the end
// of the input or at the first error, whose message names the compressed byte offset. Does not
// close `out`. `restart_points`, when set, receives gzip restart points as decoding goes.
Status DecodeStream(Codec codec, BoundedQueue<BlockRef>& in, BlockPool& pool,
                    BoundedQueue<BlockRef>& out, RestartPointSink* restart_points = nullptr);

}  // namespace staging
