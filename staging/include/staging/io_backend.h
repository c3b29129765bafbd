// The I/O back ends behind staging: io_uring, or plain system calls where the kernel or a
// seccomp policy refuses io_uring. Both produce identical results.
#pragma once

#include <string>

namespace staging {

enum class IoKind { kAuto, kUring, kPlain };

// True when this process may create an io_uring with the operations staging uses (read, write,
// openat2 into direct descriptors, close). Probed once; thread-safe.
bool UringAvailable();

// Why io_uring is unavailable ("" when it is available).
const std::string& UringUnavailableReason();

// kAuto resolves to kUring when available, else kPlain.
IoKind ResolveIoKind(IoKind requested);

const char* IoKindName(IoKind kind);

}  // namespace staging
