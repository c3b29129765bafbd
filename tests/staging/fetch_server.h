// The fault-injecting HTTP server of fetch_test (fetch_server.py) as a test fixture: started on
// 127.0.0.1 on a free port, scripted per test, stopped (by its pid) at the end.
#pragma once

#include <curl/curl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace staging_test {

extern "C" char** environ;

class FetchServer {
 public:
  // Serves the files under `root`; over HTTPS when given a certificate and its key (PEM files).
  explicit FetchServer(const fs::path& root, const std::string& cert = "",
                       const std::string& key = "")
      : scheme_(cert.empty() ? "http" : "https") {
    const std::string port_file = (state_ / "port").string();
    std::vector<std::string> args = {"python3", FETCH_SERVER_SCRIPT, root.string(), port_file};
    if (!cert.empty()) args.insert(args.end(), {cert, key});
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawnp(&pid_, "python3", nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
    for (int i = 0; i < 500 && pid_ > 0 && !fs::exists(port_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    port_ = ReadFile(port_file);
  }
  ~FetchServer() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  bool started() const { return !port_.empty(); }
  std::string Url(const std::string& path) const {
    return scheme_ + "://127.0.0.1:" + port_ + "/" + path;
  }
  // The behaviours of the next requests, then `fallback` (see fetch_server.py).
  void Script(const std::string& script, const std::string& fallback = "ok") const {
    Get(Url("_control?script=" + script + "&default=" + fallback));
  }
  // The requests since the last Script(): path, range, if_range, mode.
  nlohmann::json Log() const { return nlohmann::json::parse(Get(Url("_log"))); }

 private:
  static size_t Append(char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  }
  static std::string Get(const std::string& url) {
    std::string body;
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &FetchServer::Append);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    return body;
  }

  std::string scheme_;
  TempDir state_;
  pid_t pid_ = -1;
  std::string port_;
};

}  // namespace staging_test
