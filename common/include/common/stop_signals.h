// SIGINT and SIGTERM as a request to stop, as cloud platforms send them (SIGTERM at a time limit
// or when a spot machine is reclaimed, usually with about 30 s of grace) and people press Ctrl-C.
// The first signal only sets a flag that the program polls, so it can finish what it must and
// leave nothing half-done; a second one ends the process at once with 128 + its number, as the
// default action would (the next run cleans up).
#ifndef COMMON_STOP_SIGNALS_H_
#define COMMON_STOP_SIGNALS_H_

#include <atomic>

namespace common {

// Installs the handlers for SIGINT and SIGTERM. Call once, early in main.
void InstallStopSignals();

// True once a stop was requested; safe to poll from any thread, also from libraries that take a
// `const std::atomic<bool>*`.
const std::atomic<bool>& StopRequested();

// The first signal received (SIGINT or SIGTERM), or 0.
int StopSignal();

// The exit status for a stop by signal: 128 + its number (130 for SIGINT, 143 for SIGTERM).
int StopExitStatus();

// The signal's name for messages: "SIGINT", "SIGTERM", or "a signal".
const char* StopSignalName();

}  // namespace common

#endif  // COMMON_STOP_SIGNALS_H_
