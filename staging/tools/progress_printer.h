// Progress on stderr: a redrawn bar with bytes, rate and ETA on a terminal; otherwise a plain
// line every few seconds, so logs stay short.
#pragma once

#include <chrono>
#include <string>

#include "staging/stage.h"

namespace staging {

class ProgressPrinter {
 public:
  // Off a terminal, a line every `line_every` (and none before the first has passed); nothing at
  // all when `silent` (--quiet).
  ProgressPrinter(std::string verb, bool terminal,
                  std::chrono::milliseconds line_every = std::chrono::seconds(5),
                  bool silent = false);
  void Update(const Progress& progress);
  void Finish();  // clears the bar

 private:
  std::string verb_;
  bool terminal_;
  bool silent_;
  bool drew_ = false;
  std::chrono::milliseconds line_every_;
  std::chrono::steady_clock::time_point start_, last_line_;
};

}  // namespace staging
