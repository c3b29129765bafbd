// Where a dataset's images come from, told apart by content: a directory (its ".jpg" files), or
// an archive read in place with no extraction (a plain tar or a `stage pack` archive through a
// member index; a .tar.gz, .tar.xz, .tar.bz2 or single-frame .tar.zst read once into memory
// when it fits under the cap).
#ifndef LOADER_DATA_SOURCE_H_
#define LOADER_DATA_SOURCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "loader/dataset.h"
#include "loader/sample_store.h"

namespace loader {

enum class Preload { kAuto, kOn, kOff };

struct DataSourceOptions {
  // Cap on what an archive may hold in memory (a non-seekable one's images, or the whole file
  // read ahead); 0: a quarter of physical memory.
  uint64_t max_memory = 0;
  // Processes on this machine opening the same data with copies of their own (data-parallel
  // ranks): each gets this share of max_memory.
  unsigned sharers = 1;
  // The largest member of an archive read (a forged or sparse header can declare terabytes):
  // larger is an error before anything is allocated for it.
  uint64_t max_member_bytes = uint64_t{256} << 20;
  // Read the whole archive sequentially first (kAuto: when it fits under max_memory and is not
  // in the page cache already).
  Preload preload = Preload::kAuto;
  // Where member indexes go when the archive's directory is not writable ("": ~/.cache/stage).
  std::string index_cache;
};

struct DataSource {
  LabeledSet set;                            // the images, labelled; paths "ARCHIVE/MEMBER"
  std::shared_ptr<const SampleStore> store;  // null for a directory
  std::vector<std::string> notes;            // one line each, for stderr (how it is read)
  uint64_t memory_cap = 0;  // an archive's cap on memory for this process (0 for a directory)
};

// Opens `data`: a directory; an archive, whose images are the ".jpg" members directly in one
// folder (the only folder holding such members, or else the one named like the archive:
// "images" for images.tar.gz); or "ARCHIVE/FOLDER" naming the folder inside the archive.
// Labels with `rule(file_name)`. Returns "" or a one-line reason naming the path.
std::string open_data_source(const std::string& data,
                             const std::function<std::string(std::string_view)>& rule,
                             const DataSourceOptions& options, DataSource* out);

}  // namespace loader

#endif  // LOADER_DATA_SOURCE_H_
