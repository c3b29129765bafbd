// Status: the error value every staging function returns. The first error wins; the message
// names the file, the entry and the cause in one line, ready to print.
#pragma once

#include <string>
#include <utility>

namespace staging {

class Status {
 public:
  Status() = default;  // OK
  static Status Ok() { return Status(); }
  // An error with a complete one-line message; `err` is the errno behind it, or 0.
  static Status Error(std::string message, int err = 0) { return Status(std::move(message), err); }
  // "<what>: <strerror(err)>".
  static Status FromErrno(const std::string& what, int err);

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }
  int error_number() const { return errno_; }

  // A copy whose message is "<prefix>: <message>", to add context while an error travels up.
  Status WithContext(const std::string& prefix) const;

 private:
  Status(std::string message, int err) : failed_(true), message_(std::move(message)), errno_(err) {}
  bool failed_ = false;
  std::string message_;
  int errno_ = 0;
};

// Evaluates `expr` (a Status) and returns it from the enclosing function if it failed.
#define STAGING_RETURN_IF_ERROR(expr)   \
  do {                                  \
    ::staging::Status status_ = (expr); \
    if (!status_.ok()) return status_;  \
  } while (0)

}  // namespace staging
