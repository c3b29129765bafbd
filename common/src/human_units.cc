#include "common/human_units.h"

#include <cmath>
#include <cstdio>

namespace common {
namespace {

std::string Format(const char* format, double value, const char* unit) {
  char out[48];
  std::snprintf(out, sizeof out, format, value, unit);
  return out;
}

// Three significant digits of `value` (>= 1, < 1000 after scaling) followed by `unit`.
std::string Significant(double value, const char* unit) {
  if (value < 9.995) return Format("%.2f %s", value, unit);
  if (value < 99.95) return Format("%.1f %s", value, unit);
  return Format("%.0f %s", value, unit);
}

std::string Scaled(double value, const char* const units[], int count) {
  int unit = 0;
  // Move up a unit when rounding to three digits would print 1000 of this one.
  while (unit + 1 < count && value >= 999.5) {
    value /= 1000;
    ++unit;
  }
  if (unit == 0) return Format("%.0f %s", value, units[0]);
  return Significant(value, units[unit]);
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  return Scaled(static_cast<double>(bytes), kUnits, 7);
}

std::string HumanRate(double bytes_per_second) {
  static const char* const kUnits[] = {"B/s", "kB/s", "MB/s", "GB/s", "TB/s"};
  if (!(bytes_per_second > 0)) return "0 B/s";
  return Scaled(bytes_per_second, kUnits, 5);
}

std::string HumanSeconds(double seconds) {
  if (!(seconds > 0)) return "0 s";
  if (seconds < 0.1) return Format("%.3f %s", seconds, "s");
  if (seconds < 1) return Format("%.2f %s", seconds, "s");
  if (seconds < 59.95) return Format("%.1f %s", seconds, "s");
  char out[48];
  const auto whole = static_cast<uint64_t>(std::llround(seconds));
  if (whole < 3600) {
    std::snprintf(out, sizeof out, "%llu min %02llu s", static_cast<unsigned long long>(whole / 60),
                  static_cast<unsigned long long>(whole % 60));
  } else {
    std::snprintf(out, sizeof out, "%llu h %02llu min",
                  static_cast<unsigned long long>(whole / 3600),
                  static_cast<unsigned long long>(whole % 3600 / 60));
  }
  return out;
}

std::string Counted(uint64_t count, const std::string& singular, const std::string& plural) {
  return std::to_string(count) + " " + (count == 1 ? singular : plural);
}

}  // namespace common
