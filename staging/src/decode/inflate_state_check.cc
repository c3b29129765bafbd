#include "decode/inflate_state_check.h"

#include <cstring>

namespace staging {
namespace {

// Bits [from, from + count) of `bytes` (deflate's order: least significant bit first), count <= 64.
uint64_t StreamBits(const std::vector<std::byte>& bytes, uint64_t from, uint32_t count) {
  uint64_t value = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const uint64_t bit = from + i;
    const auto byte = static_cast<uint8_t>(bytes[bit / 8]);
    value |= static_cast<uint64_t>((byte >> (bit % 8)) & 1) << i;
  }
  return value;
}

}  // namespace

// Whether `ours`, the decoder's state where its chunk ended (its input's next byte at file offset
// `our_next`), is the state `stored` the index holds for that point (`stored_next`): the same
// position in the stream, the same buffered bits, the same block and pending output, and the same
// Huffman tables while inside a coded block. Anything the index could forge that changes what
// the next chunk decodes is compared; `input` holds the compressed bytes from `input_begin`.
bool SameDecoderState(const inflate_state& ours, uint64_t our_next, const inflate_state& stored,
                      uint64_t stored_next, const std::vector<std::byte>& input,
                      uint64_t input_begin) {
  if (ours.read_in_length < 0 || ours.read_in_length > 64 || stored.read_in_length < 0 ||
      stored.read_in_length > 64) {
    return false;
  }
  // The stream position in bits: what was read from the input less what is still buffered.
  const uint64_t our_bit = our_next * 8 - static_cast<uint64_t>(ours.read_in_length);
  if (stored_next * 8 < static_cast<uint64_t>(stored.read_in_length) ||
      our_bit != stored_next * 8 - static_cast<uint64_t>(stored.read_in_length) ||
      our_bit < input_begin * 8) {
    return false;
  }
  // Buffered bits are the stream's own: check the stored ones against the compressed bytes.
  const auto stored_bits = static_cast<uint32_t>(stored.read_in_length);
  if ((our_bit - input_begin * 8 + stored_bits + 7) / 8 > input.size()) return false;
  const uint64_t mask = stored_bits == 64 ? ~uint64_t{0} : (uint64_t{1} << stored_bits) - 1;
  if ((stored.read_in & mask) != StreamBits(input, our_bit - input_begin * 8, stored_bits)) {
    return false;
  }
  if (ours.block_state != stored.block_state || ours.bfinal != stored.bfinal ||
      ours.crc != stored.crc || ours.crc_flag != stored.crc_flag ||
      ours.hist_bits != stored.hist_bits || ours.total_out != stored.total_out ||
      ours.type0_block_len != stored.type0_block_len ||
      ours.write_overflow_lits != stored.write_overflow_lits ||
      ours.write_overflow_len != stored.write_overflow_len ||
      ours.copy_overflow_length != stored.copy_overflow_length ||
      ours.copy_overflow_distance != stored.copy_overflow_distance ||
      ours.wrapper_flag != stored.wrapper_flag || ours.tmp_in_size != stored.tmp_in_size ||
      ours.tmp_out_valid != stored.tmp_out_valid ||
      ours.tmp_out_processed != stored.tmp_out_processed) {
    return false;
  }
  // ISA-L keeps the history that back-references reach (the last 32 KiB of output) at the start
  // of tmp_out_buffer, and output not yet handed out after it: both are compared.
  if (std::memcmp(ours.tmp_in_buffer, stored.tmp_in_buffer, ours.tmp_in_size) != 0 ||
      std::memcmp(ours.tmp_out_buffer, stored.tmp_out_buffer, ours.tmp_out_valid) != 0) {
    return false;
  }
  if (ours.block_state == ISAL_BLOCK_CODED) {
    return std::memcmp(&ours.lit_huff_code, &stored.lit_huff_code, sizeof ours.lit_huff_code) ==
               0 &&
           std::memcmp(&ours.dist_huff_code, &stored.dist_huff_code, sizeof ours.dist_huff_code) ==
               0;
  }
  return true;
}

}  // namespace staging
