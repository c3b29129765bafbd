#include "staging/status.h"

#include <cstring>

namespace staging {

Status Status::FromErrno(const std::string& what, int err) {
  return Status(what + ": " + std::strerror(err), err);
}

Status Status::WithContext(const std::string& prefix) const {
  if (ok()) return *this;
  return Status(prefix + ": " + message_, errno_);
}

}  // namespace staging
