// Sizes and durations as people read them in summaries and messages ("1.23 GB", "0.12 s",
// "2 min 05 s"). Machine-readable output (--json) keeps raw numbers and never uses these.
#ifndef COMMON_HUMAN_UNITS_H_
#define COMMON_HUMAN_UNITS_H_

#include <cstdint>
#include <string>

namespace common {

// Decimal units as disks and networks are sold (1 kB = 1000 B), three significant digits:
// "0 B", "999 B", "1.00 kB", "12.3 MB", "456 GB", "1.20 TB".
std::string HumanBytes(uint64_t bytes);

// A rate in the same units per second: "512 MB/s".
std::string HumanRate(double bytes_per_second);

// "0.012 s", "0.12 s", "1.2 s", "59.9 s", "2 min 05 s", "1 h 02 min"; negative counts as 0.
std::string HumanSeconds(double seconds);

// "1 file", "2 files": `count` and the noun, singular or plural as the count asks.
std::string Counted(uint64_t count, const std::string& singular, const std::string& plural);

}  // namespace common

#endif  // COMMON_HUMAN_UNITS_H_
