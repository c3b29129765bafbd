#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/unique_fd.h"
#include "io/entry_writer.h"
#include "io/file_writing.h"

namespace staging {

const WriterSyscalls& WriterSyscalls::Real() {
  static const WriterSyscalls real{
      [](int dirfd, const char* name, int flags, mode_t mode) {
        return ::openat(dirfd, name, flags, mode);
      },
      [](int fd, const void* data, size_t len, off_t offset) {
        return ::pwrite(fd, data, len, offset);
      },
      [](int fd, off_t length) { return ::fallocate(fd, 0, 0, length); },
  };
  return real;
}

namespace {

class PlainWriter : public EntryWriter {
 public:
  explicit PlainWriter(const WriterSyscalls& calls) : calls_(calls) {}

  Status BeginFile(int dirfd, const std::string& name, const std::string& label, mode_t mode,
                   uint64_t size, const timespec& mtime) override {
    label_ = label;
    mode_ = mode;
    mtime_ = mtime;
    offset_ = 0;
    int fd;
    do {
      fd = calls_.openat(dirfd, name.c_str(), kCreateFlags, mode);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return Status::FromErrno(label + ": create", errno);
    fd_.reset(fd);
    if (size >= kPreallocateFrom && calls_.fallocate(fd, static_cast<off_t>(size)) < 0 &&
        errno == ENOSPC) {
      return Status::FromErrno(label + ": reserve " + std::to_string(size) + " bytes", ENOSPC);
    }
    return Status::Ok();
  }

  Status Append(const BlockRef&, const std::byte* data, size_t len) override {
    STAGING_RETURN_IF_ERROR(PwriteAll(calls_.pwrite, fd_.get(), data, len, offset_, label_));
    offset_ += len;
    return Status::Ok();
  }

  Status EndFile() override {
    STAGING_RETURN_IF_ERROR(ApplyOpenFileMetadata(fd_.get(), label_, mode_, mtime_));
    int fd = fd_.release();
    if (close(fd) < 0 && errno != EINTR) return Status::FromErrno(label_ + ": close", errno);
    ++counts_.plain_files;
    return Status::Ok();
  }

  Status Drain() override { return Status::Ok(); }
  Status Poll() override { return Status::Ok(); }
  bool Busy() const override { return false; }
  WriterCounts counts() const override { return counts_; }

 private:
  const WriterSyscalls& calls_;
  common::UniqueFd fd_;
  std::string label_;
  mode_t mode_ = 0;
  timespec mtime_{};
  uint64_t offset_ = 0;
  WriterCounts counts_;
};

}  // namespace

std::unique_ptr<EntryWriter> MakePlainWriter(const WriterSyscalls& calls) {
  return std::make_unique<PlainWriter>(calls);
}

}  // namespace staging
