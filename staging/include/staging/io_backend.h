// The I/O back ends behind staging: io_uring, or plain system calls where the kernel or a
// seccomp policy refuses io_uring. Both produce identical results.
//
// kAuto reads sources through io_uring (many reads in flight: what a slow disk needs; a source
// already whole in the page cache, with no latency to hide, is mapped instead of copied) and
// creates files with plain calls from the writer threads: creating a file cannot complete
// inline in io_uring (an O_CREAT open may block), so every chain went to an io-wq kernel worker,
// and that hand-off made the Linux source tree 15% slower than plain calls on the same threads
// (bench/RESULTS.md, "Which back end creates the files"). kUring uses io_uring for both.
#pragma once

#include <string>

namespace staging {

enum class IoKind { kAuto, kUring, kPlain };

// How sources are read, when forced (`stage --reads`), whatever IoKind says: kAuto leaves it to
// IoKind and the page cache; kMapped maps the file even where the kernel cannot say it is cached
// (no cachestat before Linux 6.5); kUring reads through io_uring (plain where it is unavailable);
// kPlain reads with pread. Each path can so be run, and tested, on any kernel.
enum class SourceReads { kAuto, kMapped, kUring, kPlain };

// "auto", "mapped", "io_uring", "plain"; and back (false for any other name).
const char* SourceReadsName(SourceReads reads);
bool ParseSourceReads(const std::string& name, SourceReads* reads);

// True when this process may create an io_uring with the operations staging uses (read, write,
// openat2 into direct descriptors, close). Probed once; thread-safe.
bool UringAvailable();

// Why io_uring is unavailable ("" when it is available).
const std::string& UringUnavailableReason();

// For reading sources: kAuto and kUring resolve to kUring when available, else kPlain.
IoKind ResolveIoKind(IoKind requested);
// For creating files: kUring when asked for by name and available, else kPlain.
IoKind ResolveWriteIoKind(IoKind requested);

// What `requested` does: "io_uring", "plain" or "io_uring reads, plain writes".
const char* IoKindName(IoKind kind);

}  // namespace staging
