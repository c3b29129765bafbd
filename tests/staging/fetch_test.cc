// stage fetch end to end: the real program against a fault-injecting HTTP server on 127.0.0.1
// (fetch_server.py), with archives made by GNU tar.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "base/source_identity.h"
#include "common/unique_fd.h"
#include "decode/gzip_index.h"
#include "fetch_server.h"
#include "staging/archive_members.h"
#include "test_support.h"

namespace staging_test {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;

// Shared by every test: the served files and the server.
struct Served {
  TempDir root;
  std::unique_ptr<FetchServer> server;
  std::string archive, blob;  // data.tar.gz (2 MB, incompressible) and blob.bin (not an archive)
};
Served* served = nullptr;

std::string Sha256Of(const fs::path& path) {
  RunResult r = RunCommand("sha256sum " + Quote(path));
  return r.out.substr(0, 64);
}

class FetchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    served = new Served;
    const fs::path& root = served->root.path();
    fs::create_directories(root / "tree/images");
    for (int i = 0; i < 16; ++i) {
      RunCommand("head -c 131072 /dev/urandom > " +
                 Quote(root / "tree/images" / ("img" + std::to_string(i) + ".jpg")));
    }
    RunCommand("tar -C " + Quote(root / "tree") + " -czf " + Quote(root / "data.tar.gz") +
               " images");
    RunCommand("head -c 1500000 /dev/urandom > " + Quote(root / "blob.bin"));
    served->archive = ReadFile(root / "data.tar.gz");
    served->blob = ReadFile(root / "blob.bin");
    served->server = std::make_unique<FetchServer>(root);
  }
  static void TearDownTestSuite() {
    delete served;
    served = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(served->server->started()) << "fetch_server.py did not start";
    served->server->Script("");
  }

  const FetchServer& server() const { return *served->server; }
  fs::path Dest() const { return dest_ / "persistent"; }
  // Runs stage fetch with fast retries; `args` follow the URL.
  RunResult Fetch(const std::string& url, const std::string& args = "") const {
    return RunCommand(StageBinary() + " fetch " + Quote(url) + " --to " + Quote(Dest()) +
                      " --retry-delay 0.02 --json " + args);
  }
  static nlohmann::json FileJson(const RunResult& r) {
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_object() ? j["files"][0] : nlohmann::json();
  }
  // No partial, temporary or final file of `name` left in the destination.
  void ExpectNothingOf(const std::string& name, bool partial_kept = false) const {
    EXPECT_FALSE(fs::exists(Dest() / name));
    EXPECT_FALSE(fs::exists(Dest() / (name + ".sha256")));
    EXPECT_EQ(fs::exists(Dest() / (name + ".stagefetch.part")), partial_kept);
  }

  TempDir dest_;
};

TEST_F(FetchTest, StoresTheArchiveByteIdenticalWithItsChecksumFile) {
  RunResult r = Fetch(server().Url("data.tar.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(Dest() / "data.tar.gz"), served->archive);
  nlohmann::json f = FileJson(r);
  EXPECT_EQ(f["kind"], "tar.gz");
  EXPECT_EQ(f["sha256"], Sha256Of(served->root / "data.tar.gz"));
  EXPECT_EQ(f["reread_bytes"], 0);
  EXPECT_FALSE(fs::exists(Dest() / "data.tar.gz.stagefetch.part"));
  RunResult check = RunCommand("cd " + Quote(Dest()) + " && sha256sum -c data.tar.gz.sha256");
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  // The last modification time is the server's, as wget keeps it.
  struct stat stored, original;
  ASSERT_EQ(stat((Dest() / "data.tar.gz").c_str(), &stored), 0);
  ASSERT_EQ(stat((served->root / "data.tar.gz").c_str(), &original), 0);
  EXPECT_EQ(stored.st_mtime, original.st_mtime);
  // stage takes it from there, checking the .sha256, and skips fetch's own files.
  TempDir job;
  RunResult staged = RunCommand(StageBinary() + " --from " + Quote(Dest()) + " --to " +
                                Quote(job.path()) + " --verify --json");
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  EXPECT_EQ(Snapshot(job.path() / "images", false), Snapshot(served->root / "tree/images", false));
  EXPECT_EQ(nlohmann::json::parse(staged.out)["archives"].size(), 1u);
}

TEST_F(FetchTest, ReRunOfAVerifiedFileIsANoOpThatSaysSo) {
  ASSERT_EQ(Fetch(server().Url("data.tar.gz")).exit_code, 0);
  served->server->Script("");
  RunResult again = Fetch(server().Url("data.tar.gz"));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(FileJson(again)["already"].get<bool>());
  EXPECT_NE(again.err.find("already fetched and verified"), std::string::npos) << again.err;
  EXPECT_EQ(server().Log().size(), 0u);  // not even a request
}

// Someone rewrote the verified file in place (same size, mtime set back) and edited its record
// to match: the inode's ctime says the record is stale. With --sha256 the file is hashed again and
// fetched again when it no longer matches; without a wrong file, it is kept after the hash.
TEST_F(FetchTest, AFileRewrittenSinceItsRecordIsHashedAgainNotTrusted) {
  const std::string sha = Sha256Of(served->root / "data.tar.gz");
  ASSERT_EQ(Fetch(server().Url("data.tar.gz"), "--sha256 " + sha).exit_code, 0);
  const fs::path stored = Dest() / "data.tar.gz";
  struct stat before;
  ASSERT_EQ(stat(stored.c_str(), &before), 0);
  std::string forged = served->archive;
  forged[forged.size() / 2] ^= 0x55;
  {
    std::ofstream out(stored, std::ios::binary | std::ios::in | std::ios::out);
    out << forged;
  }
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, stored.c_str(), times, 0), 0);
  served->server->Script("");
  RunResult again = Fetch(server().Url("data.tar.gz"), "--sha256 " + sha);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_FALSE(FileJson(again)["already"].get<bool>()) << again.err;
  EXPECT_EQ(ReadFile(stored), served->archive) << "the rewritten file was believed";
  EXPECT_GT(server().Log().size(), 0u);
  // Touched but unchanged (a new ctime): hashed again, found right, kept without a download.
  ASSERT_EQ(chmod(stored.c_str(), 0640), 0);
  served->server->Script("");
  RunResult touched = Fetch(server().Url("data.tar.gz"), "--sha256 " + sha);
  ASSERT_EQ(touched.exit_code, 0) << touched.err;
  EXPECT_TRUE(FileJson(touched)["already"].get<bool>()) << touched.err;
  EXPECT_NE(touched.err.find("hashed again: it matches --sha256"), std::string::npos)
      << touched.err;
  EXPECT_EQ(server().Log().size(), 0u);
}

// Records and checksum files are untrusted: a record linked to /dev/zero, or a FIFO, is never
// read (it would never end, or block); the file is fetched again instead.
TEST_F(FetchTest, RecordsThatAreLinksOrFifosAreIgnoredWithoutBlocking) {
  ASSERT_EQ(Fetch(server().Url("data.tar.gz")).exit_code, 0);
  const fs::path record = Dest() / "data.tar.gz.stagefetch.json";
  for (int planted = 0; planted < 2; ++planted) {
    fs::remove(record);
    if (planted == 0) {
      fs::create_symlink("/dev/zero", record);
    } else {
      ASSERT_EQ(mkfifo(record.c_str(), 0644), 0);
    }
    served->server->Script("");
    RunResult again = Fetch(server().Url("data.tar.gz"));
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_FALSE(FileJson(again)["already"].get<bool>());
    EXPECT_NE(again.err.find(planted == 0 ? "a symbolic link, not a file); fetching again"
                                          : "not a regular file); fetching again"),
              std::string::npos)
        << again.err;
    EXPECT_EQ(ReadFile(Dest() / "data.tar.gz"), served->archive);
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(record))) << "a fresh record replaces it";
  }
  // A checksum file linked to /dev/zero: --verify refuses it in one line.
  fs::remove(Dest() / "data.tar.gz.sha256");
  fs::create_symlink("/dev/zero", Dest() / "data.tar.gz.sha256");
  TempDir job;
  RunResult staged = RunCommand(StageBinary() + " --from " + Quote(Dest()) + " --to " +
                                Quote(job.path()) + " --verify");
  EXPECT_EQ(staged.exit_code, 1);
  EXPECT_NE(staged.err.find("data.tar.gz.sha256: a symbolic link, not a file"), std::string::npos)
      << staged.err;
}

TEST_F(FetchTest, ConnectionDroppedHalfwayIsResumedByteIdentical) {
  served->server->Script("drop");
  RunResult r = Fetch(server().Url("data.tar.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(Dest() / "data.tar.gz"), served->archive);
  nlohmann::json log = server().Log();
  ASSERT_EQ(log.size(), 2u) << log.dump();
  const size_t half = served->archive.size() / 2;
  EXPECT_EQ(log[1]["range"], "bytes=" + std::to_string(half) + "-");
  EXPECT_EQ(log[1]["if_range"].get<std::string>().front(), '"');  // the ETag validates it
  EXPECT_EQ(FileJson(r)["attempts"], 2);
  EXPECT_NE(r.err.find("retrying"), std::string::npos) << r.err;
}

TEST_F(FetchTest, ChecksumMismatchLeavesNothingUnderAnyName) {
  RunResult r = Fetch(server().Url("data.tar.gz"), "--sha256 " + std::string(64, 'a'));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(std::string(64, 'a')), std::string::npos) << r.err;
  ExpectNothingOf("data.tar.gz");
  EXPECT_FALSE(fs::exists(Dest() / "data.tar.gz.stageidx"));
}

TEST_F(FetchTest, Md5AsTheDatasetSitePublishesIt) {
  const std::string md5 =
      RunCommand("md5sum " + Quote(served->root / "data.tar.gz")).out.substr(0, 32);
  RunResult r = Fetch(server().Url("data.tar.gz"), "--md5 " + md5);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(FileJson(r)["md5"], md5);
  RunResult wrong = RunCommand(StageBinary() + " fetch " + Quote(server().Url("blob.bin")) +
                               " --to " + Quote(Dest()) + " --md5 " + std::string(32, '0'));
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("md5"), std::string::npos) << wrong.err;
  ExpectNothingOf("blob.bin");
}

TEST_F(FetchTest, NotFoundIsOneClearLineAndNoRetry) {
  RunResult r = Fetch(server().Url("missing.tar.gz"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("stage fetch: error: " + server().Url("missing.tar.gz") + ": HTTP 404"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(server().Log().size(), 1u);
  ExpectNothingOf("missing.tar.gz");
  EXPECT_TRUE(fs::is_empty(Dest())) << "nothing arrived, so nothing is kept";
}

TEST_F(FetchTest, ServiceUnavailableTwiceThenSuccess) {
  served->server->Script("status503,status503");
  RunResult r = Fetch(server().Url("data.tar.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(FileJson(r)["attempts"], 3);
  EXPECT_EQ(ReadFile(Dest() / "data.tar.gz"), served->archive);
  EXPECT_NE(r.err.find("HTTP 503"), std::string::npos) << r.err;
}

TEST_F(FetchTest, ServerErrorAfterTheRetriesFails) {
  served->server->Script("", "status500");
  RunResult r = Fetch(server().Url("data.tar.gz"), "--retry 2");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, ContainsRegex("data.tar.gz: gave up after 3 tries over [0-9.]+ s: "
                                   "HTTP 500 Internal Server Error\n"));
  EXPECT_EQ(server().Log().size(), 3u);
  EXPECT_FALSE(fs::exists(Dest() / "data.tar.gz"));
}

// The tries a message names, from "gave up after N tries"; -1 when it names none.
int TriesNamed(const std::string& err) {
  std::smatch m;
  if (!std::regex_search(err, m, std::regex("gave up after ([0-9]+) tr"))) return -1;
  return std::stoi(m[1]);
}

TEST_F(FetchTest, RetryMaxTimeEndsTheRetriesWhateverTheirCount) {
  served->server->Script("", "status503");
  // Waits of 0.2 and 0.4 s, then one cut to end at 1 s: four or five tries, never the 51 that
  // --retry alone allows.
  RunResult r =
      Fetch(server().Url("data.tar.gz"), "--retry 50 --retry-delay 0.2 --retry-max-time 1");
  EXPECT_EQ(r.exit_code, 1);
  int tries = TriesNamed(r.err);
  EXPECT_GE(tries, 2) << r.err;
  EXPECT_LE(tries, 5) << r.err;
  EXPECT_EQ(server().Log().size(), static_cast<size_t>(tries));
  EXPECT_THAT(r.err, HasSubstr(": HTTP 503 Service Unavailable"));
}

// A port on 127.0.0.1 where nothing listens: bound, read and closed again.
int RefusingPort() {
  common::UniqueFd s(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(s.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return -1;
  }
  return ntohs(addr.sin_port);
}

TEST_F(FetchTest, RefusedConnectionFailsAtOnceUnlessAskedToRetry) {
  int port = RefusingPort();
  ASSERT_GT(port, 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/data.tar.gz";
  RunResult once = Fetch(url, "--retry 3");
  EXPECT_EQ(once.exit_code, 1);
  EXPECT_THAT(once.err, HasSubstr("data.tar.gz: connection refused"));
  EXPECT_THAT(once.err, HasSubstr("not retried (--retry-connrefused retries it)"));
  EXPECT_EQ(FileJson(once)["attempts"], 1);

  RunResult retried = Fetch(url, "--retry 2 --retry-connrefused");
  EXPECT_EQ(retried.exit_code, 1);
  EXPECT_EQ(TriesNamed(retried.err), 3) << retried.err;
  EXPECT_THAT(retried.err, HasSubstr(" s: connection refused"));
  EXPECT_EQ(FileJson(retried)["attempts"], 3);
  ExpectNothingOf("data.tar.gz");
}

TEST_F(FetchTest, UnresolvableHostFailsAtOnce) {
  RunResult r = Fetch("http://no-such-host.invalid/data.tar.gz", "--retry 3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(FileJson(r)["attempts"], 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("no-such-host.invalid"));
  EXPECT_EQ(TriesNamed(r.err), -1) << r.err;
}

TEST_F(FetchTest, ServerWithoutRangeSupportStartsOver) {
  served->server->Script("drop", "norange");
  RunResult r = Fetch(server().Url("data.tar.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(Dest() / "data.tar.gz"), served->archive);
  nlohmann::json log = server().Log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_FALSE(log[1]["range"].is_null());  // asked, and got the whole file instead
}

TEST_F(FetchTest, FileChangedOnTheServerStartsOver) {
  TempDir other;
  RunCommand("head -c 700000 /dev/urandom > " + Quote(served->root / "changing.bin"));
  served->server->Script("", "drop");
  EXPECT_EQ(Fetch(server().Url("changing.bin"), "--retry 0").exit_code, 1);
  EXPECT_EQ(fs::file_size(Dest() / "changing.bin.stagefetch.part"), 350000u);
  RunCommand("head -c 600000 /dev/urandom > " + Quote(served->root / "changing.bin"));
  served->server->Script("");
  RunResult r = Fetch(server().Url("changing.bin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(Dest() / "changing.bin"), ReadFile(served->root / "changing.bin"));
  EXPECT_EQ(server().Log()[0]["range"], "bytes=350000-");  // If-Range said no: a whole new file
  EXPECT_EQ(FileJson(r)["resumed_from"], 0);
}

TEST_F(FetchTest, BodyShorterThanAnnouncedFailsKeepingThePartial) {
  served->server->Script("", "short");
  RunResult r = Fetch(server().Url("blob.bin"), "--retry 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("closed after 750000 bytes"), std::string::npos) << r.err;
  ExpectNothingOf("blob.bin", /*partial_kept=*/true);
}

TEST_F(FetchTest, BodyLongerThanAnnouncedStoresOnlyWhatWasAnnounced) {
  served->server->Script("", "long");
  RunResult r = Fetch(server().Url("blob.bin"), "--retry 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(Dest() / "blob.bin"), served->blob);
}

TEST_F(FetchTest, SlowServerShowsProgressLines) {
  served->server->Script("", "slow");
  RunResult r = Fetch(server().Url("blob.bin"), "--progress-every 0.5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t lines = 0;
  for (size_t at = r.err.find("fetch: "); at != std::string::npos;
       at = r.err.find("fetch: ", at + 1)) {
    if (at == 0 || r.err[at - 1] == '\n') ++lines;
  }
  EXPECT_GE(lines, 3u) << r.err;
  EXPECT_THAT(r.err, ContainsRegex("[0-9.]+ [kMG]?B/s"));
}

TEST_F(FetchTest, NonArchiveIsStoredAsItIs) {
  RunResult r = Fetch(server().Url("blob.bin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(FileJson(r)["kind"], "file");
  EXPECT_EQ(ReadFile(Dest() / "blob.bin"), served->blob);
  EXPECT_FALSE(fs::exists(Dest() / "blob.bin.stageidx"));
}

TEST_F(FetchTest, RedirectIsFollowed) {
  served->server->Script("redirect");
  RunResult r = Fetch(server().Url("blob.bin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(server().Log().size(), 2u);
  EXPECT_TRUE(ReadFile(Dest() / "blob.bin") == served->blob) << "the redirected bytes differ";
}

TEST_F(FetchTest, FileUrlsAndPlainPathsWorkTheSameWay) {
  RunResult by_url = Fetch("file://" + (served->root / "data.tar.gz").string());
  ASSERT_EQ(by_url.exit_code, 0) << by_url.err;
  EXPECT_EQ(ReadFile(Dest() / "data.tar.gz"), served->archive);
  EXPECT_EQ(FileJson(by_url)["kind"], "tar.gz");
  RunResult by_path = Fetch((served->root / "blob.bin").string());
  ASSERT_EQ(by_path.exit_code, 0) << by_path.err;
  EXPECT_EQ(ReadFile(Dest() / "blob.bin"), served->blob);
  EXPECT_EQ(Fetch((served->root / "nothing.bin").string()).exit_code, 1);
}

TEST_F(FetchTest, UserInfoAndQueryNeverAppear) {
  const std::string port = server().Url("").substr(17);  // "PORT/"
  const std::string url =
      "http://alice:hunter2secret@127.0.0.1:" + port + "data.tar.gz?token=s3cr3tt0ken";
  RunResult ok = Fetch(url);
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  RunResult missing =
      Fetch("http://alice:hunter2secret@127.0.0.1:" + port + "gone.bin?token=s3cr3tt0ken");
  EXPECT_EQ(missing.exit_code, 1);
  std::string everything = ok.out + ok.err + missing.out + missing.err;
  for (const auto& entry : fs::directory_iterator(Dest())) everything += ReadFile(entry.path());
  EXPECT_EQ(everything.find("hunter2secret"), std::string::npos);
  EXPECT_EQ(everything.find("s3cr3tt0ken"), std::string::npos);
  EXPECT_NE(missing.err.find("http://***@127.0.0.1:" + port + "gone.bin?***"), std::string::npos)
      << missing.err;
}

// Starts stage fetch in the background; its output goes to files under `dir`.
pid_t StartFetch(const std::string& url, const fs::path& dest, const fs::path& dir) {
  const std::string command = "exec " + StageBinary() + " fetch " + Quote(url) + " --to " +
                              Quote(dest) + " --json >" + Quote(dir / "out") + " 2>" +
                              Quote(dir / "err");
  char* argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                  const_cast<char*>(command.c_str()), nullptr};
  pid_t pid = -1;
  posix_spawnp(&pid, "sh", nullptr, nullptr, argv, environ);
  return pid;
}

// Waits until `path` holds at least `bytes`; false after a few seconds.
bool WaitForSize(const fs::path& path, uint64_t bytes) {
  for (int i = 0; i < 1000; ++i) {
    std::error_code ec;
    if (fs::file_size(path, ec) >= bytes && !ec) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST_F(FetchTest, KilledFetchIsResumedByTheNextRun) {
  served->server->Script("hang");
  TempDir logs;
  pid_t pid = StartFetch(server().Url("data.tar.gz"), Dest(), logs.path());
  const uint64_t half = served->archive.size() / 2;
  ASSERT_TRUE(WaitForSize(Dest() / "data.tar.gz.stagefetch.part", half));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_FALSE(fs::exists(Dest() / "data.tar.gz"));
  served->server->Script("");
  RunResult r = Fetch(server().Url("data.tar.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(Dest() / "data.tar.gz"), served->archive);
  EXPECT_EQ(FileJson(r)["resumed_from"], half);
  EXPECT_EQ(FileJson(r)["reread_bytes"], half);  // the kept half, read back once
  EXPECT_EQ(server().Log()[0]["range"], "bytes=" + std::to_string(half) + "-");
  for (const auto& entry : fs::directory_iterator(Dest())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
}

TEST_F(FetchTest, PartialThatIsWholeIsFinishedWithoutDownloadingAgain) {
  // As a run killed between the last byte and the rename leaves it.
  const std::string url = server().Url("data.tar.gz");
  WriteFile(Dest() / "data.tar.gz.stagefetch.part", served->archive);
  const std::string etag = "\"" + Sha256Of(served->root / "data.tar.gz").substr(0, 16) + "\"";
  WriteFile(Dest() / "data.tar.gz.stagefetch.resume",
            nlohmann::json{{"url", url}, {"etag", etag}, {"total", served->archive.size()}}.dump());
  RunResult r = Fetch(url);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(Dest() / "data.tar.gz"), served->archive);
  EXPECT_EQ(FileJson(r)["reread_bytes"], served->archive.size());
  nlohmann::json log = server().Log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["range"], "bytes=" + std::to_string(served->archive.size()) + "-");
}

TEST_F(FetchTest, SigtermStopsAtOnceKeepingThePartialForTheNextRun) {
  served->server->Script("hang");
  TempDir logs;
  pid_t pid = StartFetch(server().Url("data.tar.gz"), Dest(), logs.path());
  ASSERT_TRUE(WaitForSize(Dest() / "data.tar.gz.stagefetch.part", served->archive.size() / 2));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 143);
  EXPECT_NE(ReadFile(logs / "err").find("interrupted"), std::string::npos);
  EXPECT_FALSE(fs::exists(Dest() / "data.tar.gz"));
  EXPECT_TRUE(fs::exists(Dest() / "data.tar.gz.stagefetch.part"));
}

TEST_F(FetchTest, GzipIndexBuiltWhileDownloadingIsTheOneStagingUses) {
  // Over 16 MiB decoded, so that the index has restart points.
  TempDir src;
  RunCommand("seq 1 5000000 > " + Quote(src / "numbers.txt") + " && tar -C " + Quote(src.path()) +
             " -cf - numbers.txt | gzip -1 > " + Quote(served->root / "big.tar.gz"));
  RunResult r = Fetch(server().Url("big.tar.gz"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(FileJson(r)["indexed"].get<bool>());
  const fs::path archive = Dest() / "big.tar.gz";
  common::UniqueFd fd(open(archive.c_str(), O_RDONLY));
  staging::SourceIdentity identity;
  ASSERT_TRUE(staging::IdentifySource(fd.get(), fs::absolute(archive), &identity).ok());
  staging::GzipIndex index;
  EXPECT_TRUE(staging::LoadGzipIndex((Dest() / "big.tar.gz.stageidx").string(), identity, &index));
  EXPECT_GT(index.points, 0u);
  struct stat before, after;
  stat((Dest() / "big.tar.gz.stageidx").c_str(), &before);
  TempDir job;
  RunResult staged =
      RunCommand(StageBinary() + " --from " + Quote(Dest()) + " --to " + Quote(job.path()));
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  EXPECT_EQ(ReadFile(job / "numbers.txt"), ReadFile(src / "numbers.txt"));
  stat((Dest() / "big.tar.gz.stageidx").c_str(), &after);
  EXPECT_EQ(before.st_ino, after.st_ino);  // accepted as it was, not rebuilt
  fs::remove(served->root / "big.tar.gz");
}

// Opens `archive` in place, which must find the member index beside it (not build one), and
// reads every member, which must hold the served tree's bytes.
void ExpectReadInPlaceThroughItsIndex(const fs::path& archive) {
  std::unique_ptr<staging::ArchiveMembers> members;
  staging::MemberOpenReport report;
  staging::MemberOpenOptions options;
  options.preload = staging::Preload::kOff;
  staging::Status opened =
      staging::ArchiveMembers::Open(archive.string(), options, &members, &report);
  ASSERT_TRUE(opened.ok()) << opened.message();
  EXPECT_FALSE(report.index_built) << report.index_note;
  EXPECT_EQ(report.index_note, "");
  ASSERT_EQ(members->members().size(), 16u);
  for (size_t i = 0; i < members->members().size(); ++i) {
    const staging::MemberInfo& m = members->members()[i];
    std::vector<uint8_t> bytes;
    ASSERT_TRUE(members->Read(i, &bytes).ok()) << m.name;
    EXPECT_EQ(std::string(bytes.begin(), bytes.end()), ReadFile(served->root / "tree" / m.name))
        << m.name;
  }
}

void ServePlainTar() {
  RunCommand("tar -C " + Quote(served->root / "tree") + " -cf " +
             Quote(served->root / "plain.tar") + " images");
}

// A plain tar (as the real Pets images.tar.gz is) gets its member index in the same pass: reading
// it in place then finds the index and reads no headers.
TEST_F(FetchTest, MemberIndexOfAPlainTarIsBuiltWhileDownloadingAndUsed) {
  ServePlainTar();
  RunResult r = Fetch(server().Url("plain.tar"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json f = FileJson(r);
  EXPECT_EQ(f["kind"], "tar");
  EXPECT_TRUE(f["member_indexed"].get<bool>());
  EXPECT_FALSE(f["indexed"].get<bool>());
  EXPECT_EQ(f["reread_bytes"], 0);
  struct stat before, after;
  ASSERT_EQ(stat((Dest() / "plain.tar.stagemembers").c_str(), &before), 0);
  ExpectReadInPlaceThroughItsIndex(Dest() / "plain.tar");
  ASSERT_EQ(stat((Dest() / "plain.tar.stagemembers").c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);  // used as it was, not rebuilt
  // A .tar.gz cannot be read at random: it gets the gzip index, not a member index.
  RunResult gz = Fetch(server().Url("data.tar.gz"));
  ASSERT_EQ(gz.exit_code, 0) << gz.err;
  EXPECT_FALSE(FileJson(gz)["member_indexed"].get<bool>());
  EXPECT_FALSE(fs::exists(Dest() / "data.tar.gz.stagemembers"));
  fs::remove(served->root / "plain.tar");
}

// Resumed downloads index the whole tar too: after a connection dropped halfway (the stream the
// headers are read from goes on where it broke), and from a partial file an earlier run left
// (read back once, then fed through the same pass).
TEST_F(FetchTest, MemberIndexOfAResumedDownloadIsWhole) {
  ServePlainTar();
  served->server->Script("drop");
  RunResult dropped = Fetch(server().Url("plain.tar"));
  ASSERT_EQ(dropped.exit_code, 0) << dropped.err;
  EXPECT_EQ(FileJson(dropped)["attempts"], 2);
  EXPECT_TRUE(FileJson(dropped)["member_indexed"].get<bool>());
  ExpectReadInPlaceThroughItsIndex(Dest() / "plain.tar");

  served->server->Script("");
  TempDir other;
  const fs::path dest = other / "persistent";
  fs::create_directories(dest);
  const std::string url = server().Url("plain.tar");
  const std::string tar = ReadFile(served->root / "plain.tar");
  WriteFile(dest / "plain.tar.stagefetch.part", tar);
  const std::string etag = "\"" + Sha256Of(served->root / "plain.tar").substr(0, 16) + "\"";
  WriteFile(dest / "plain.tar.stagefetch.resume",
            nlohmann::json{{"url", url}, {"etag", etag}, {"total", tar.size()}}.dump());
  RunResult replayed =
      RunCommand(StageBinary() + " fetch " + Quote(url) + " --to " + Quote(dest) + " --json");
  ASSERT_EQ(replayed.exit_code, 0) << replayed.err;
  EXPECT_EQ(FileJson(replayed)["reread_bytes"], tar.size());
  EXPECT_TRUE(FileJson(replayed)["member_indexed"].get<bool>());
  ExpectReadInPlaceThroughItsIndex(dest / "plain.tar");
  fs::remove(served->root / "plain.tar");
}

// A tar whose headers the pass cannot read (here cut in the middle of a member) is still stored
// as the server has it, verified; the member index is left out with a warning saying why.
TEST_F(FetchTest, TarThatCannotBeIndexedIsStoredWithAWarningAndNoIndex) {
  RunCommand("tar -C " + Quote(served->root / "tree") + " -cf - images | head -c 700000 > " +
             Quote(served->root / "cut.tar"));
  RunResult r = Fetch(server().Url("cut.tar"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json f = FileJson(r);
  EXPECT_EQ(f["kind"], "tar");
  EXPECT_FALSE(f["member_indexed"].get<bool>());
  ASSERT_TRUE(f["warnings"].is_array());
  EXPECT_NE(f["warnings"][0].get<std::string>().find("no member index"), std::string::npos)
      << f["warnings"];
  EXPECT_EQ(ReadFile(Dest() / "cut.tar"), ReadFile(served->root / "cut.tar"));
  EXPECT_FALSE(fs::exists(Dest() / "cut.tar.stagemembers"));
  fs::remove(served->root / "cut.tar");
}

TEST_F(FetchTest, PackStoresTheStagePackArchiveInstead) {
  RunResult r = Fetch(server().Url("data.tar.gz"), "--pack");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(FileJson(r)["packed"].get<bool>());
  EXPECT_FALSE(fs::exists(Dest() / "data.tar.gz"));
  ASSERT_TRUE(fs::exists(Dest() / "data.tar.zst"));
  RunResult check = RunCommand("cd " + Quote(Dest()) + " && sha256sum -c data.tar.zst.sha256");
  EXPECT_EQ(check.exit_code, 0) << check.err;
  TempDir job;
  RunResult staged = RunCommand(StageBinary() + " --from " + Quote(Dest()) + " --to " +
                                Quote(job.path()) + " --verify");
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  EXPECT_EQ(Snapshot(job.path() / "images", false), Snapshot(served->root / "tree/images", false));
  for (const auto& entry : fs::directory_iterator(Dest())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
}

// --pack --random-access stores an archive with a frame per member, read in place member by
// member (no advice to repack); asking for the other packing later packs again instead of
// calling the stored one done.
TEST_F(FetchTest, PackForRandomAccessIsReadInPlaceAndTheModeIsRemembered) {
  RunResult r = Fetch(server().Url("data.tar.gz"), "--pack --random-access");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(FileJson(r)["packed"].get<bool>());
  std::unique_ptr<staging::ArchiveMembers> members;
  staging::MemberOpenReport report;
  staging::Status opened =
      staging::ArchiveMembers::Open((Dest() / "data.tar.zst").string(), {}, &members, &report);
  ASSERT_TRUE(opened.ok()) << opened.message();
  EXPECT_EQ(report.layout, staging::MemberLayout::kPacked);
  EXPECT_EQ(report.advice, "");  // a frame per member: nothing to repack
  EXPECT_TRUE(FileJson(r)["member_indexed"].get<bool>());
  EXPECT_FALSE(report.index_built)
      << "the index written by fetch was not used: " << report.index_note;
  ASSERT_EQ(members->members().size(), 16u);
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(members->Read(3, &bytes).ok());
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()),
            ReadFile(served->root / "tree" / members->members()[3].name));

  EXPECT_TRUE(FileJson(Fetch(server().Url("data.tar.gz"), "--pack --random-access"))["already"]);
  RunResult other = Fetch(server().Url("data.tar.gz"), "--pack");
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_FALSE(FileJson(other)["already"].get<bool>());
  RunResult alone = Fetch(server().Url("data.tar.gz"), "--random-access");
  EXPECT_EQ(alone.exit_code, 2) << alone.err;
  EXPECT_NE(alone.err.find("--random-access"), std::string::npos) << alone.err;
}

TEST_F(FetchTest, FullDiskIsRefusedBeforeDownloading) {
  TempDir mount_point;
  if (RunCommand("mount -t tmpfs -o size=1m tmpfs " + Quote(mount_point.path())).exit_code != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs here";
  }
  RunResult r = RunCommand(StageBinary() + " fetch " + Quote(server().Url("data.tar.gz")) +
                           " --to " + Quote(mount_point.path()));
  // Without a length announced, the disk fills while writing.
  served->server->Script("nolength");
  RunResult unannounced = RunCommand(StageBinary() + " fetch " + Quote(server().Url("blob.bin")) +
                                     " --to " + Quote(mount_point.path()));
  const bool blob_visible = fs::exists(mount_point / "blob.bin");
  RunCommand("umount " + Quote(mount_point.path()));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not enough space"), std::string::npos) << r.err;
  EXPECT_EQ(unannounced.exit_code, 1);
  EXPECT_NE(unannounced.err.find("blob.bin: write: No space left on device"), std::string::npos)
      << unannounced.err;
  EXPECT_FALSE(blob_visible);
}

TEST_F(FetchTest, OptionMistakesAreUsageErrorsBeforeAnyRequest) {
  RunResult short_digest = Fetch(server().Url("blob.bin"), "--sha256 00");
  EXPECT_EQ(short_digest.exit_code, 2);
  EXPECT_NE(short_digest.err.find("stage fetch: --sha256 00 is not 64 hex digits"),
            std::string::npos)
      << short_digest.err;
  RunResult one_for_two = RunCommand(StageBinary() + " fetch a.tar b.tar --to " + Quote(Dest()) +
                                     " --md5 " + std::string(32, 'f'));
  EXPECT_EQ(one_for_two.exit_code, 2);
  EXPECT_NE(one_for_two.err.find("--md5 given 1 times for 2 URLs"), std::string::npos);
  EXPECT_EQ(server().Log().size(), 0u);
  EXPECT_FALSE(fs::exists(Dest()));
}

TEST_F(FetchTest, TlsCertificatesAreAlwaysVerified) {
  TempDir tls;
  RunResult made = RunCommand(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
      Quote(tls / "key.pem") + " -out " + Quote(tls / "cert.pem"));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  FetchServer https(served->root.path(), (tls / "cert.pem").string(), (tls / "key.pem").string());
  ASSERT_TRUE(https.started());
  // A certificate no CA vouches for is refused, and not retried.
  RunResult refused = Fetch(https.Url("blob.bin"));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("certificate"), std::string::npos) << refused.err;
  ExpectNothingOf("blob.bin");
  // Trusted through --ca-file (a private CA), the same server is fine.
  RunResult trusted = Fetch(https.Url("blob.bin"), "--ca-file " + Quote(tls / "cert.pem"));
  ASSERT_EQ(trusted.exit_code, 0) << trusted.err;
  EXPECT_EQ(ReadFile(Dest() / "blob.bin"), served->blob);
}

}  // namespace
}  // namespace staging_test
