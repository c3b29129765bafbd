#include "progress_printer.h"

#include <cstdio>

#include "common/human_units.h"

namespace staging {

ProgressPrinter::ProgressPrinter(std::string verb, bool terminal,
                                 std::chrono::milliseconds line_every, bool silent)
    : verb_(std::move(verb)),
      terminal_(terminal),
      silent_(silent),
      line_every_(line_every),
      start_(std::chrono::steady_clock::now()),
      last_line_(start_) {}

void ProgressPrinter::Update(const Progress& p) {
  if (silent_) return;
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double fraction = p.source_bytes_total ? double(p.source_bytes_done) / p.source_bytes_total : 0;
  double rate = elapsed > 0 ? p.source_bytes_done / elapsed : 0;
  double eta = rate > 0 ? (p.source_bytes_total - p.source_bytes_done) / rate : 0;
  const std::string done = common::HumanBytes(p.source_bytes_done);
  const std::string total = common::HumanBytes(p.source_bytes_total);
  const std::string speed = common::HumanRate(rate);
  if (terminal_) {
    constexpr int kWidth = 30;
    int filled = static_cast<int>(fraction * kWidth);
    std::fprintf(stderr, "\r%s [%-*s] %5.1f%%  %s / %s  %s  ETA %s  %s \033[K", verb_.c_str(),
                 kWidth, std::string(filled, '#').c_str(), fraction * 100, done.c_str(),
                 total.c_str(), speed.c_str(), common::HumanSeconds(eta).c_str(),
                 common::Counted(p.files, "file", "files").c_str());
    drew_ = true;
  } else if (now - last_line_ >= line_every_) {
    last_line_ = now;
    std::fprintf(stderr, "%s: %.0f%% %s / %s, %s, %s, %u/%u sources\n", verb_.c_str(),
                 fraction * 100, done.c_str(), total.c_str(), speed.c_str(),
                 common::Counted(p.files, "file", "files").c_str(), p.archives_done,
                 p.archives_total);
  }
}

void ProgressPrinter::Finish() {
  if (drew_) std::fprintf(stderr, "\r\033[K");
  drew_ = false;
}

}  // namespace staging
