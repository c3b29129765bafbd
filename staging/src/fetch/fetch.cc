// Fetch(): checks the options, then downloads each URL in turn while a progress thread samples
// the counters.
#include "staging/fetch.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>

#include "base/progress_thread.h"
#include "fetch/download.h"
#include "fetch/url.h"

namespace staging {
namespace {

bool IsHex(const std::string& s, size_t length) {
  return s.size() == length &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// One list of expected digests: none, or one per URL, each `length` hex digits.
Status CheckDigestList(const std::vector<std::string>& digests, size_t urls, const char* flag,
                       size_t length) {
  if (!digests.empty() && digests.size() != urls) {
    return Status::Error(std::string("fetch: ") + flag + " given " +
                         std::to_string(digests.size()) + " times for " + std::to_string(urls) +
                         " URLs (give it once per URL, in the same order)");
  }
  for (const std::string& d : digests) {
    if (!IsHex(d, length)) {
      return Status::Error(std::string("fetch: ") + flag + " " + d + " is not " +
                           std::to_string(length) + " hex digits");
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckFetchOptions(const FetchOptions& options) {
  if (options.urls.empty()) return Status::Error("fetch: no URL given");
  for (const std::string& text : options.urls) {
    FetchUrl url;  // a scheme it does not speak, or no file name: nothing to try
    if (Status status = ParseFetchUrl(text, &url); !status.ok()) {
      return Status::Error("fetch: " + status.message());
    }
  }
  if (options.to.empty()) return Status::Error("fetch: --to DIR is required");
  if (options.retries < 0) return Status::Error("fetch: --retry must not be negative");
  if (!(options.retry_delay >= 0)) return Status::Error("fetch: --retry-delay must be >= 0");
  if (!(options.retry_max_time >= 0)) return Status::Error("fetch: --retry-max-time must be >= 0");
  if (options.stall_seconds < 1) return Status::Error("fetch: --stall-timeout must be >= 1");
  if (options.random_access && !options.pack) {
    return Status::Error("fetch: --random-access is a way to --pack; give both");
  }
  STAGING_RETURN_IF_ERROR(CheckDigestList(options.sha256, options.urls.size(), "--sha256", 64));
  return CheckDigestList(options.md5, options.urls.size(), "--md5", 32);
}

namespace {

Expected ExpectedFor(const FetchOptions& options, size_t i) {
  Expected e;
  if (!options.sha256.empty()) e.sha256 = Lower(options.sha256[i]);
  if (!options.md5.empty()) e.md5 = Lower(options.md5[i]);
  return e;
}

}  // namespace

bool FetchReport::ok() const {
  if (interrupted || files.empty()) return false;
  return std::all_of(files.begin(), files.end(),
                     [](const FetchedFile& f) { return f.status.ok(); });
}

FetchReport Fetch(const FetchOptions& options, const ProgressCallback& on_progress,
                  int progress_interval_ms) {
  const auto start = std::chrono::steady_clock::now();
  FetchReport report;
  auto finish = [&] {
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
  };
  if (Status status = CheckFetchOptions(options); !status.ok()) {
    report.files.push_back(FetchedFile{});
    report.files.back().status = status;
    return finish();
  }
  FetchCounters counters;
  std::atomic<uint32_t> finished{0};
  ProgressThread progress(
      on_progress,
      [&] {
        Progress p;
        p.source_bytes_done = counters.done.load() + counters.now.load();
        p.source_bytes_total = counters.done.load() + counters.total.load();
        p.archives_done = finished;
        p.archives_total = static_cast<uint32_t>(options.urls.size());
        return p;
      },
      std::chrono::milliseconds(progress_interval_ms), /*final_report=*/false);
  for (size_t i = 0; i < options.urls.size(); ++i) {
    const auto file_start = std::chrono::steady_clock::now();
    FetchedFile& file = report.files.emplace_back();
    FetchUrl url;
    file.status = ParseFetchUrl(options.urls[i], &url);
    file.url = url.redacted;
    if (file.status.ok()) {
      Download download(url, ExpectedFor(options, i), options, counters, options.on_notice);
      file.status = download.Run(&file);
      report.interrupted = download.interrupted();
    }
    file.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - file_start).count();
    counters.done += file.bytes;
    counters.now = 0;
    counters.total = 0;
    ++finished;
    if (!file.status.ok()) break;
  }
  return finish();
}

}  // namespace staging
