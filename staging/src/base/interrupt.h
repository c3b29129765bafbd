// StageOptions::interrupt, polled: one place says what "interrupted" is and what it returns.
#pragma once

#include <atomic>

#include "staging/status.h"

namespace staging {

// True once `interrupt` (null: never) was set.
inline bool InterruptRequested(const std::atomic<bool>* interrupt) {
  return interrupt != nullptr && interrupt->load(std::memory_order_relaxed);
}

// The error an interrupted staging stops with, or OK while it may go on.
inline Status CheckInterrupt(const std::atomic<bool>* interrupt) {
  return InterruptRequested(interrupt) ? Status::Error("interrupted") : Status::Ok();
}

}  // namespace staging
