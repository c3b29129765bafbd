// The check that makes a gzip index safe to trust: where a chunk's inflate ended, ISA-L's decoder
// state must be the one the index stored for the next chunk's start. An index is a sidecar file,
// untrusted; anything in it that would change what the next chunk decodes is compared.
#pragma once

#include <isa-l/igzip_lib.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace staging {

// Whether `ours`, the decoder's state where its chunk ended (its input's next byte at file offset
// `our_next`), is the state `stored` the index holds for that point (`stored_next`): the same
// position in the stream, the same buffered bits, the same block and pending output, and the same
// Huffman tables while inside a coded block. Anything the index could forge that changes what
// the next chunk decodes is compared; `input` holds the compressed bytes from `input_begin`.
bool SameDecoderState(const inflate_state& ours, uint64_t our_next, const inflate_state& stored,
                      uint64_t stored_next, const std::vector<std::byte>& input,
                      uint64_t input_begin);

}  // namespace staging
