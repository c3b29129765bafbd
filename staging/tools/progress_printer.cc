#include "progress_printer.h"

#include <cstdio>

namespace staging {

ProgressPrinter::ProgressPrinter(std::string verb, bool terminal,
                                 std::chrono::milliseconds line_every)
    : verb_(std::move(verb)),
      terminal_(terminal),
      line_every_(line_every),
      start_(std::chrono::steady_clock::now()),
      last_line_(start_) {}

void ProgressPrinter::Update(const Progress& p) {
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double fraction = p.source_bytes_total ? double(p.source_bytes_done) / p.source_bytes_total : 0;
  double rate = elapsed > 0 ? p.source_bytes_done / elapsed / 1e6 : 0;
  double eta = rate > 0 ? (p.source_bytes_total - p.source_bytes_done) / 1e6 / rate : 0;
  if (terminal_) {
    constexpr int kWidth = 30;
    int filled = static_cast<int>(fraction * kWidth);
    std::fprintf(stderr, "\r%s [%-*s] %5.1f%%  %.0f/%.0f MB  %.0f MB/s  ETA %.0fs  %llu files ",
                 verb_.c_str(), kWidth, std::string(filled, '#').c_str(), fraction * 100,
                 p.source_bytes_done / 1e6, p.source_bytes_total / 1e6, rate, eta,
                 static_cast<unsigned long long>(p.files));
    drew_ = true;
  } else if (now - last_line_ >= line_every_) {
    last_line_ = now;
    std::fprintf(stderr, "%s: %.0f%% %.0f/%.0f MB, %.0f MB/s, %llu files, %u/%u sources\n",
                 verb_.c_str(), fraction * 100, p.source_bytes_done / 1e6,
                 p.source_bytes_total / 1e6, rate, static_cast<unsigned long long>(p.files),
                 p.archives_done, p.archives_total);
  }
}

void ProgressPrinter::Finish() {
  if (drew_) std::fprintf(stderr, "\r\033[K");
  drew_ = false;
}

}  // namespace staging
