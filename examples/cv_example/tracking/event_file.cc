#include "tracking/event_file.h"

#include <isa-l/crc.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "tracking/tensorboard_event.pb.h"

namespace cv_example::tracking {
namespace {

// TFRecord's mask: rotate right by 15 bits and add a constant.
constexpr uint32_t kMaskDelta = 0xa282ead8u;

void put_le(std::string* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t masked_crc32c(const void* data, size_t size) {
  // ISA-L's crc32_iscsi is CRC32C without the standard initial and final inversion.
  const uint32_t crc = ~crc32_iscsi(static_cast<unsigned char*>(const_cast<void*>(data)),
                                    static_cast<int>(size), 0xffffffffu);
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

std::unique_ptr<EventFile> EventFile::create(const std::string& dir, std::string* error) {
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  const auto seconds = static_cast<int64_t>(now_seconds());
  const std::string path = dir + "/events.out.tfevents." + std::to_string(seconds) + "." + host +
                           "." + std::to_string(getpid()) + ".0";
  std::FILE* file = std::fopen(path.c_str(), "wbx");  // never another run's file
  if (file == nullptr) {
    *error = path + ": " + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<EventFile> events(new EventFile(path, file));
  tensorboard::Event version;
  version.set_wall_time(now_seconds());
  version.set_file_version("brain.Event:2");
  *error = events->write_record(version.SerializeAsString());
  if (error->empty()) *error = events->flush();
  return error->empty() ? std::move(events) : nullptr;
}

EventFile::~EventFile() { std::fclose(file_); }

std::string EventFile::write_scalars(int64_t step, double wall_time,
                                     const std::map<std::string, double>& scalars) {
  tensorboard::Event event;
  event.set_wall_time(wall_time);
  event.set_step(step);
  for (const auto& [tag, value] : scalars) {
    tensorboard::Summary::Value* entry = event.mutable_summary()->add_value();
    entry->set_tag(tag);
    entry->set_simple_value(static_cast<float>(value));
  }
  return write_record(event.SerializeAsString());
}

std::string EventFile::write_record(const std::string& record) {
  std::string framed;
  framed.reserve(record.size() + 16);
  put_le(&framed, record.size(), 8);
  put_le(&framed, masked_crc32c(framed.data(), 8), 4);
  framed += record;
  put_le(&framed, masked_crc32c(record.data(), record.size()), 4);
  if (std::fwrite(framed.data(), 1, framed.size(), file_) != framed.size()) {
    return path_ + ": " + std::strerror(errno);
  }
  return {};
}

std::string EventFile::flush() {
  if (std::fflush(file_) != 0) return path_ + ": " + std::strerror(errno);
  return {};
}

}  // namespace cv_example::tracking
