// Where the loader reads samples from when they are not files of their own: the members of an
// archive read in place.
#ifndef LOADER_SAMPLE_STORE_H_
#define LOADER_SAMPLE_STORE_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace loader {

// Thread-safe: the loader's decoding threads call both methods at once.
class SampleStore {
 public:
  virtual ~SampleStore() = default;
  // The bytes of the sample with `key` (Sample::key); "" or a one-line reason naming the
  // archive and the member.
  virtual std::string read(uint64_t key, std::vector<uint8_t>* bytes) const = 0;
  // The samples of a batch about to be made: the store may start their reads, in file order.
  virtual void will_read(std::span<const uint64_t> keys) const = 0;
};

}  // namespace loader

#endif  // LOADER_SAMPLE_STORE_H_
