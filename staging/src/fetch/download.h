// One URL's download into its directory: the partial file and its lock, resume, retries, the
// one-pass sink, and the steps that make the result visible only complete and verified.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/unique_fd.h"
#include "fetch/fetch_sink.h"
#include "fetch/transfer.h"
#include "fetch/url.h"
#include "staging/fetch.h"

namespace staging {

// What the progress thread reads while a download runs.
struct FetchCounters {
  std::atomic<uint64_t> done{0};   // bytes of the files finished before
  std::atomic<uint64_t> now{0};    // bytes of the current file so far
  std::atomic<uint64_t> total{0};  // its announced size, 0 when unknown
};

struct Expected {
  std::string sha256, md5;  // lower-case hex, "" = not checked
};

class Download : public BodyReceiver {
 public:
  // `notice` receives one line per retry ("…; retrying in 2 s"). All must outlive the object.
  Download(const FetchUrl& url, const Expected& expected, const FetchOptions& options,
           FetchCounters& counters, std::function<void(const std::string&)> notice);
  ~Download() override;

  // Fetches into options.to; the report is filled as far as it got. kInterrupted when stopped.
  Status Run(FetchedFile* report);
  bool interrupted() const { return interrupted_; }

  Status Begin(uint64_t offset, const Validators& validators) override;
  Status Write(const void* data, size_t len) override;

 private:
  bool AlreadyThere(FetchedFile* report);
  Status OpenPartial();
  void SweepStaleTemps();
  Status Transfer(FetchedFile* report);
  Attempt TryOnce(uint64_t offset, const Validators& known);
  Status Reserve(uint64_t total);
  Status Complete(FetchedFile* report);
  Status CheckDigests(const SinkResult& result);
  Status MakeVisible(const SinkResult& result, FetchedFile* report);
  Status PublishPacked(const SinkResult& result, FetchedFile* report);
  Status WriteChecksumFile(const std::string& path, const std::string& sha256);
  Status SyncDirectory();
  void Date();
  std::string Path(const std::string& suffix) const { return final_ + suffix; }
  std::string PackedName() const;

  const FetchUrl& url_;
  Expected expected_;
  const FetchOptions& options_;
  FetchCounters& counters_;
  std::function<void(const std::string&)> notice_;
  std::string dir_, final_;
  common::UniqueFd partial_;
  std::unique_ptr<FetchSink> sink_;
  Validators validators_;
  std::string mtime_header_;
  int64_t local_mtime_ns_ = -1;
  bool interrupted_ = false;
};

}  // namespace staging
