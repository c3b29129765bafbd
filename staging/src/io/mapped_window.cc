#include "io/mapped_window.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <string>

namespace staging {
namespace {

// The windows the SIGBUS handler guards. A fixed table: the handler may not allocate or lock.
// A pipeline maps at most one window per source block (six), so this serves dozens of sources
// staged at once; past that, blocks are read instead of mapped.
constexpr int kSlots = 256;

struct Slot {
  std::atomic<bool> taken{false};
  std::atomic<uintptr_t> begin{0};  // 0: not in use; set last, cleared first
  std::atomic<uintptr_t> end{0};
  std::atomic<std::atomic<bool>*> lost{nullptr};
};

Slot g_slots[kSlots];
struct sigaction g_previous;
uintptr_t g_page_size = 4096;

void OnSigbus(int signal_number, siginfo_t* info, void* context) {
  const auto at = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& slot : g_slots) {
    const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
    const uintptr_t end = slot.end.load(std::memory_order_relaxed);
    if (begin == 0 || at < begin || at >= end) continue;
    // Zeros over the lost pages, to the window's end: the access completes, and the pipeline
    // fails the staging on `lost` once everyone has stopped touching the window.
    const uintptr_t page = at & ~(g_page_size - 1);
    if (mmap(reinterpret_cast<void*>(page), end - page, PROT_READ,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
      break;
    }
    if (std::atomic<bool>* lost = slot.lost.load(std::memory_order_relaxed)) lost->store(true);
    return;
  }
  // Not a window's: whatever handled SIGBUS before does. Its default, restored, ends the process
  // when the faulting access runs again; a signal that was sent, not raised by a fault, is resent.
  if (g_previous.sa_flags & SA_SIGINFO) {
    g_previous.sa_sigaction(signal_number, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(signal_number);
    return;
  }
  sigaction(SIGBUS, &g_previous, nullptr);
  if (info->si_code <= 0) raise(SIGBUS);
}

void InstallHandler() {
  g_page_size = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  struct sigaction action = {};
  action.sa_sigaction = OnSigbus;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  // The previous disposition is saved whole before the handler can run and read it.
  sigaction(SIGBUS, nullptr, &g_previous);
  sigaction(SIGBUS, &action, nullptr);
}

int TakeSlot() {
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (g_slots[i].taken.compare_exchange_strong(expected, true)) return i;
  }
  return -1;
}

}  // namespace

Status MappedWindow::Map(int fd, uint64_t offset, size_t length,
                         std::shared_ptr<std::atomic<bool>> lost,
                         std::unique_ptr<MappedWindow>* out) {
  static std::once_flag installed;
  std::call_once(installed, InstallHandler);
  out->reset();
  const uint64_t start = offset & ~static_cast<uint64_t>(g_page_size - 1);
  const size_t lead = static_cast<size_t>(offset - start);
  const size_t mapped = lead + length;
  void* base = mmap(nullptr, mapped, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(start));
  if (base == MAP_FAILED) return Status::Ok();  // not mappable here: read instead
  const int slot = TakeSlot();
  if (slot < 0) {
    munmap(base, mapped);
    return Status::Ok();
  }
  Slot& guard = g_slots[slot];
  guard.lost.store(lost.get(), std::memory_order_relaxed);
  guard.end.store(reinterpret_cast<uintptr_t>(base) + mapped, std::memory_order_relaxed);
  guard.begin.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
  std::unique_ptr<MappedWindow> window(
      new MappedWindow(static_cast<std::byte*>(base), mapped, lead, slot, std::move(lost)));
  while (madvise(base, mapped, MADV_POPULATE_READ) != 0) {
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == EINVAL) break;  // before Linux 5.14: the pages fault in as they are touched
    return Status::FromErrno("read at byte " + std::to_string(offset), errno);
  }
  // A first touch of each page here, so that the time a mapping takes includes the fault a
  // hypervisor that shadows page tables adds to it (about 1 us a page; the reader's trial compares
  // that time with pread's), and the threads that read the block in user space do not take it.
  // The kernel's own copies out of the window (the writers' pwrite) may still fault once more.
  const volatile std::byte* pages = static_cast<const std::byte*>(base);
  for (size_t at = 0; at < mapped; at += g_page_size) (void)pages[at];
  *out = std::move(window);
  return Status::Ok();
}

MappedWindow::MappedWindow(std::byte* base, size_t mapped, size_t lead, int slot,
                           std::shared_ptr<std::atomic<bool>> lost)
    : base_(base), mapped_(mapped), lead_(lead), slot_(slot), lost_(std::move(lost)) {}

MappedWindow::~MappedWindow() {
  Slot& guard = g_slots[slot_];
  guard.begin.store(0, std::memory_order_release);
  guard.end.store(0, std::memory_order_relaxed);
  guard.lost.store(nullptr, std::memory_order_relaxed);
  munmap(base_, mapped_);
  guard.taken.store(false, std::memory_order_release);
}

}  // namespace staging
