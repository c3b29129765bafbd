// HashSet64: a set of 64-bit hashes in one flat array (open addressing, linear probing). An
// insert probes one or two cache lines and allocates nothing, where std::unordered_set allocated
// a node per value and divided by a prime; the extractor inserts one per archive entry (84,000
// for the Linux source tree, on the parser's thread, which bounds staging on many cores).
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace staging {

class HashSet64 {
 public:
  // True when `hash` was not in the set; it is now. The hashes 0 and 1 count as one value (0
  // marks an empty slot): like any two hashes that collide, a caller must allow for it.
  bool Insert(uint64_t hash) {
    if (hash == 0) hash = 1;
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    if (!Place(slots_, hash)) return false;
    ++size_;
    return true;
  }

  size_t size() const { return size_; }

 private:
  // Puts `hash` in `slots` (a power of two, at most half full); false when it is there already.
  static bool Place(std::vector<uint64_t>& slots, uint64_t hash) {
    const size_t mask = slots.size() - 1;
    // Fibonacci hashing spreads hashes whose low bits are poor over the whole table.
    for (size_t i = (hash * 0x9E3779B97F4A7C15ull) >> 20 & mask;; i = (i + 1) & mask) {
      if (slots[i] == hash) return false;
      if (slots[i] == 0) {
        slots[i] = hash;
        return true;
      }
    }
  }

  void Grow() {
    std::vector<uint64_t> larger(slots_.empty() ? 1024 : slots_.size() * 2, 0);
    for (uint64_t hash : slots_) {
      if (hash != 0) Place(larger, hash);
    }
    slots_ = std::move(larger);
  }

  std::vector<uint64_t> slots_;
  size_t size_ = 0;
};

}  // namespace staging
