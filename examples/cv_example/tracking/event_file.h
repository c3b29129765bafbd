// A TensorBoard event file: TFRecord framing (length, masked CRC32C of the length, the record,
// masked CRC32C of the record; CRC32C by ISA-L) around Event messages encoded by protobuf, in
// DIR/events.out.tfevents.SECONDS.HOST.PID, the name TensorBoard looks for.
#ifndef CV_EXAMPLE_TRACKING_EVENT_FILE_H_
#define CV_EXAMPLE_TRACKING_EVENT_FILE_H_

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

namespace cv_example::tracking {

class EventFile {
 public:
  // Creates the file in `dir` (which must exist) with its version record; nullptr and `*error`
  // set (one line naming the file) when it cannot.
  static std::unique_ptr<EventFile> create(const std::string& dir, std::string* error);
  ~EventFile();

  // One Event at `step` holding a scalar per tag; "" or a one-line reason.
  std::string write_scalars(int64_t step, double wall_time,
                            const std::map<std::string, double>& scalars);
  // Hands what was written to the kernel, so a TensorBoard watching the run sees it; "" or why.
  std::string flush();
  const std::string& path() const { return path_; }

 private:
  EventFile(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  std::string write_record(const std::string& record);

  std::string path_;
  std::FILE* file_;
};

// CRC32C of `data`, masked as TFRecord stores it (rotated and offset, so that a CRC of data that
// holds CRCs does not look like one).
uint32_t masked_crc32c(const void* data, size_t size);

}  // namespace cv_example::tracking

#endif  // CV_EXAMPLE_TRACKING_EVENT_FILE_H_
