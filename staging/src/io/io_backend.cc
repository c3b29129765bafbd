#include "staging/io_backend.h"

#include <liburing.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace staging {
namespace {

struct Probe {
  bool available = false;
  std::string reason;
};

Probe RunProbe() {
  Probe result;
  // Lets tests and users exercise the fallback exactly as a seccomp refusal would.
  if (const char* off = std::getenv("STAGE_NO_IO_URING"); off && *off && std::strcmp(off, "0")) {
    result.reason = "disabled by STAGE_NO_IO_URING";
    return result;
  }
  io_uring ring;
  int rc = io_uring_queue_init(8, &ring, 0);
  if (rc < 0) {
    result.reason = std::string("io_uring_setup: ") + std::strerror(-rc);
    return result;
  }
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (!probe) {
    result.reason = "io_uring probe refused";
  } else {
    for (int op : {IORING_OP_READ, IORING_OP_WRITE, IORING_OP_OPENAT2, IORING_OP_CLOSE}) {
      if (!io_uring_opcode_supported(probe, op)) {
        result.reason = "kernel lacks io_uring opcode " + std::to_string(op);
        break;
      }
    }
    io_uring_free_probe(probe);
    if (result.reason.empty()) {
      rc = io_uring_register_files_sparse(&ring, 8);
      if (rc < 0) result.reason = std::string("io_uring sparse file table: ") + std::strerror(-rc);
    }
  }
  io_uring_queue_exit(&ring);
  result.available = result.reason.empty();
  return result;
}

const Probe& GetProbe() {
  static const Probe probe = RunProbe();
  return probe;
}

}  // namespace

bool UringAvailable() { return GetProbe().available; }
const std::string& UringUnavailableReason() { return GetProbe().reason; }

IoKind ResolveIoKind(IoKind requested) {
  if (requested == IoKind::kAuto) return UringAvailable() ? IoKind::kUring : IoKind::kPlain;
  if (requested == IoKind::kUring && !UringAvailable()) return IoKind::kPlain;
  return requested;
}

IoKind ResolveWriteIoKind(IoKind requested) {
  return requested == IoKind::kUring && UringAvailable() ? IoKind::kUring : IoKind::kPlain;
}

const char* IoKindName(IoKind kind) {
  const bool ring_reads = ResolveIoKind(kind) == IoKind::kUring;
  const bool ring_writes = ResolveWriteIoKind(kind) == IoKind::kUring;
  if (ring_reads && ring_writes) return "io_uring";
  return ring_reads ? "io_uring reads, plain writes" : "plain";
}

const char* SourceReadsName(SourceReads reads) {
  switch (reads) {
    case SourceReads::kMapped:
      return "mapped";
    case SourceReads::kUring:
      return "io_uring";
    case SourceReads::kPlain:
      return "plain";
    case SourceReads::kAuto:
      break;
  }
  return "auto";
}

bool ParseSourceReads(const std::string& name, SourceReads* reads) {
  for (SourceReads r :
       {SourceReads::kAuto, SourceReads::kMapped, SourceReads::kUring, SourceReads::kPlain}) {
    if (name == SourceReadsName(r)) {
      *reads = r;
      return true;
    }
  }
  return false;
}

}  // namespace staging
