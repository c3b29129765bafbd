// Replacing a file so that a crash at any moment leaves either the old or the new content.
#ifndef CV_EXAMPLE_ATOMIC_FILE_H_
#define CV_EXAMPLE_ATOMIC_FILE_H_

#include <string>
#include <string_view>

namespace cv_example {

// Writes `bytes` to a temporary file in the directory of `path`, fsyncs it, renames it over
// `path` and fsyncs the directory, so the rename itself is durable. Returns an empty string on
// success, otherwise the reason naming the file; the temporary file is removed on failure.
std::string write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace cv_example

#endif  // CV_EXAMPLE_ATOMIC_FILE_H_
