// HttpAttempt: one libcurl transfer. Response headers are read as they come (a redirect's
// headers are dropped when the next status line starts); the body is handed on only for 200 and
// 206, whose first byte decides where it starts; everything else is judged after the transfer.
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <mutex>

#include "fetch/transfer.h"

namespace staging {
namespace {

using Easy = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
using HeaderList = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

constexpr long kMaxRedirects = 10;
constexpr long kConnectTimeout = 30;
constexpr long kReceiveBuffer = 1 << 20;

struct Response {
  long code = 0;
  std::string reason, etag, last_modified, content_range, retry_after;
};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

class HttpRun {
 public:
  HttpRun(const FetchUrl& url, const TransferSettings& settings, uint64_t offset,
          const Validators& known, BodyReceiver& receiver)
      : url_(url), settings_(settings), offset_(offset), known_(known), receiver_(receiver) {}

  Attempt Run() {
    Easy easy(curl_easy_init(), curl_easy_cleanup);
    if (!easy) return Fail(AttemptResult::kFailed, "cannot start libcurl");
    easy_ = easy.get();
    HeaderList headers(nullptr, curl_slist_free_all);
    Configure(headers);
    CURLcode rc = curl_easy_perform(easy_);
    return Judge(rc);
  }

 private:
  void Configure(HeaderList& headers) {
    curl_easy_setopt(easy_, CURLOPT_URL, url_.url.c_str());
    curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy_, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(easy_, CURLOPT_MAXREDIRS, kMaxRedirects);
    curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!settings_.ca_file.empty())
      curl_easy_setopt(easy_, CURLOPT_CAINFO, settings_.ca_file.c_str());
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT, kConnectTimeout);
    curl_easy_setopt(easy_, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(easy_, CURLOPT_LOW_SPEED_TIME, static_cast<long>(settings_.stall_seconds));
    curl_easy_setopt(easy_, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy_, CURLOPT_BUFFERSIZE, kReceiveBuffer);
    curl_easy_setopt(easy_, CURLOPT_USERAGENT, "stage-fetch/1");
    curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_);
    curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &HttpRun::OnHeader);
    curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &HttpRun::OnBody);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(easy_, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy_, CURLOPT_XFERINFOFUNCTION, &HttpRun::OnProgress);
    curl_easy_setopt(easy_, CURLOPT_XFERINFODATA, this);
    if (offset_ > 0) {
      range_ = std::to_string(offset_) + "-";
      curl_easy_setopt(easy_, CURLOPT_RANGE, range_.c_str());
      // The range is only good for the same file: a changed one comes back whole (200).
      const std::string& validator = known_.etag.empty() ? known_.last_modified : known_.etag;
      headers.reset(curl_slist_append(nullptr, ("If-Range: " + validator).c_str()));
      curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers.get());
    }
  }

  static size_t OnHeader(char* data, size_t size, size_t count, void* self) {
    static_cast<HttpRun*>(self)->Header(std::string(data, size * count));
    return size * count;
  }
  void Header(const std::string& line) {
    if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or a 100)
      response_ = Response();
      size_t sp = line.find(' ');
      if (sp != std::string::npos) {
        response_.code = std::strtol(line.c_str() + sp + 1, nullptr, 10);
        size_t sp2 = line.find(' ', sp + 1);
        if (sp2 != std::string::npos) response_.reason = Trim(line.substr(sp2 + 1));
      }
      return;
    }
    size_t colon = line.find(':');
    if (colon == std::string::npos) return;
    std::string name = Lower(Trim(line.substr(0, colon))), value = Trim(line.substr(colon + 1));
    if (name == "etag") response_.etag = value.rfind("W/", 0) == 0 ? "" : value;
    if (name == "last-modified") response_.last_modified = value;
    if (name == "content-range") response_.content_range = value;
    if (name == "retry-after") response_.retry_after = value;
  }

  static size_t OnBody(char* data, size_t size, size_t count, void* self) {
    return static_cast<HttpRun*>(self)->Body(data, size * count);
  }
  size_t Body(const char* data, size_t len) {
    if (!begun_) {
      curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &code_);
      if (code_ != 200 && code_ != 206) return len;  // an error page: judged at the end
      if (!BeginBody()) return 0;                    // makes libcurl stop with a write error
    }
    if (received_ + len > expected_ && expected_ > 0) {
      longer_ = true;
      return 0;
    }
    receiver_status_ = receiver_.Write(data, len);
    if (!receiver_status_.ok()) return 0;
    received_ += len;
    return len;
  }

  bool BeginBody() {
    begun_ = true;
    Validators v{response_.etag, response_.last_modified, 0};
    uint64_t start = 0;
    if (code_ == 206) {
      uint64_t first = 0, last = 0, total = 0;
      if (std::sscanf(response_.content_range.c_str(), "bytes %" SCNu64 "-%" SCNu64 "/%" SCNu64,
                      &first, &last, &total) != 3 ||
          first != offset_ || last + 1 != total) {
        range_mismatch_ = true;  // not the range asked for: start over with the whole file
        return false;
      }
      start = first;
      v.total = total;
      if (v.etag.empty() && v.last_modified.empty()) v = known_;
    } else {
      curl_off_t length = -1;
      curl_easy_getinfo(easy_, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
      v.total = length > 0 ? static_cast<uint64_t>(length) : 0;
    }
    expected_ = v.total > 0 ? v.total - start : 0;
    receiver_status_ = receiver_.Begin(start, v);
    return receiver_status_.ok();
  }

  static int OnProgress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    const auto* interrupt = static_cast<HttpRun*>(self)->settings_.interrupt;
    return interrupt && interrupt->load() ? 1 : 0;
  }

  Attempt Judge(CURLcode rc) {
    if (rc == CURLE_ABORTED_BY_CALLBACK) return Fail(AttemptResult::kInterrupted, "interrupted");
    if (!receiver_status_.ok()) {
      Attempt a;
      a.status = receiver_status_;
      return a;
    }
    if (range_mismatch_) {
      Attempt a = Fail(AttemptResult::kTransient, "the server answered another range than asked");
      a.drop_range = true;
      return a;
    }
    if (longer_) return Fail(AttemptResult::kFailed, "the body is longer than announced");
    if (rc != CURLE_OK) return CurlFailure(rc);
    if (code_ == 0) curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &code_);
    if (code_ == 416 && WholeAlready()) return Judge(CURLE_OK);
    if (code_ != 200 && code_ != 206) return HttpFailure();
    if (expected_ > 0 && received_ < expected_) {
      return Fail(AttemptResult::kTransient, "the body ended after " + std::to_string(received_) +
                                                 " of the " + std::to_string(expected_) +
                                                 " bytes announced");
    }
    if (!begun_ && !BeginBody()) {  // an empty body the receiver has not seen yet
      Attempt a = Fail(AttemptResult::kFailed, "the server answered another range than asked");
      if (!receiver_status_.ok()) a.status = receiver_status_;
      return a;
    }
    Attempt done;
    done.result = AttemptResult::kDone;
    done.mtime_header = response_.last_modified;
    return done;
  }

  // A 416 whose Content-Range says the file is exactly as long as what we hold (and If-Range
  // found it unchanged): a run stopped after the last byte and before the rename. Nothing is
  // left to send; the kept bytes are the file.
  bool WholeAlready() {
    uint64_t total = 0;
    if (offset_ == 0 || begun_ ||
        std::sscanf(response_.content_range.c_str(), "bytes */%" SCNu64, &total) != 1 ||
        total != offset_) {
      return false;
    }
    begun_ = true;
    code_ = 206;
    Validators v = known_;
    v.total = total;
    receiver_status_ = receiver_.Begin(offset_, v);
    return true;
  }

  Attempt CurlFailure(CURLcode rc) {
    std::string cause = error_[0] ? error_ : curl_easy_strerror(rc);
    if (rc == CURLE_PARTIAL_FILE) {
      cause = "the connection closed after " + std::to_string(offset_ + received_) + " bytes (" +
              cause + ")";
    }
    long os_errno = 0;
    if (rc == CURLE_COULDNT_CONNECT &&
        curl_easy_getinfo(easy_, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
        os_errno == ECONNREFUSED) {
      // As curl: nothing listens there, which waiting rarely cures, unless asked.
      Attempt a =
          Fail(settings_.refused_is_transient ? AttemptResult::kTransient : AttemptResult::kFailed,
               "connection refused (" + cause + ")");
      a.refused = true;
      return a;
    }
    switch (rc) {
      case CURLE_PARTIAL_FILE:
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR:
      case CURLE_COULDNT_CONNECT:
      case CURLE_OPERATION_TIMEDOUT:
      case CURLE_GOT_NOTHING:
      case CURLE_HTTP2:
      case CURLE_HTTP2_STREAM:
        return Fail(AttemptResult::kTransient, cause);
      default:
        return Fail(AttemptResult::kFailed, cause);
    }
  }

  Attempt HttpFailure() {
    std::string cause =
        "HTTP " + std::to_string(code_) + (response_.reason.empty() ? "" : " " + response_.reason);
    const bool transient = code_ == 408 || code_ == 429 || code_ == 500 || code_ == 502 ||
                           code_ == 503 || code_ == 504;
    Attempt a = Fail(transient ? AttemptResult::kTransient : AttemptResult::kFailed, cause);
    a.retry_after = std::strtod(response_.retry_after.c_str(), nullptr);  // seconds form only
    // 416: the range asked for does not exist (the file shrank, or the partial is whole).
    a.drop_range = code_ == 416;
    if (a.drop_range) a.result = AttemptResult::kTransient;
    return a;
  }

  Attempt Fail(AttemptResult result, const std::string& cause) const {
    Attempt a;
    a.result = result;
    a.cause = ScrubSecrets(cause, url_);
    a.status = Status::Error(url_.redacted + ": " + a.cause);
    return a;
  }

  const FetchUrl& url_;
  const TransferSettings& settings_;
  uint64_t offset_;
  const Validators& known_;
  BodyReceiver& receiver_;
  CURL* easy_ = nullptr;
  char error_[CURL_ERROR_SIZE] = {};
  std::string range_;
  Response response_;
  long code_ = 0;
  bool begun_ = false, range_mismatch_ = false, longer_ = false;
  uint64_t received_ = 0, expected_ = 0;
  Status receiver_status_;
};

}  // namespace

Attempt HttpAttempt(const FetchUrl& url, const TransferSettings& settings, uint64_t offset,
                    const Validators& known, BodyReceiver& receiver) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return HttpRun(url, settings, offset, known, receiver).Run();
}

}  // namespace staging
