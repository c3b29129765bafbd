// The staging pipeline for one source: a reader thread (io_uring, mapped or plain reads, several in
// flight) -> a decoder thread (any Decoder) -> the caller's consumer on the calling thread (the
// tar parser and the writer, or a plain copy). The pipeline owns the threads, the queues between
// them, the writer, their shutdown and the ranking of their errors; its destructor releases them
// in the one order that is safe (the writer and the queues hold blocks of the decoder's pools).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "decode/decoder.h"
#include "io/entry_writer.h"
#include "staging/io_backend.h"
#include "staging/status.h"

namespace staging {

class Pipeline {
 public:
  // Reads the `size`-byte source `fd` from its start through `decoder`.
  // `writers` threads create the files; 0: the cores the decoder leaves (ResolveWriterThreads).
  Pipeline(IoKind io, int writers, int fd, uint64_t size, std::unique_ptr<Decoder> decoder);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Forces how the source is read (SourceReads); by default as `io` and the page cache say.
  void set_source_reads(SourceReads reads) { reads_ = reads; }

  // Called on the reader thread with each block read, in file order (counting, hashing).
  void set_on_read(std::function<void(const Block&)> on_read) { on_read_ = std::move(on_read); }

  // Runs the pipeline: `consume` pulls the decoded stream on this thread and writes with
  // `writer`. The error returned is the root cause: the reader's, else the decoder's when it
  // failed first (the consumer's error, if any, is added to it), else the consumer's. Call once.
  using Consumer = std::function<Status(BoundedQueue<BlockRef>& decoded, EntryWriter& writer)>;
  Status Run(const Consumer& consume);

  // After Run: the decoder failed on its own, before anything downstream did (an indexed
  // inflate that fails says its index may be wrong).
  bool decoder_failed() const { return decoder_failed_; }
  // After Run: the threads that created the files.
  int writer_threads() const { return writer_threads_; }
  // After Run: how the source was read, "io_uring", "mapped" or "plain" (SourceReader::how).
  const char* source_reads() const { return source_reads_; }

 private:
  void ReadAll();
  void DecodeAll();
  void Abort();

  IoKind io_;
  SourceReads reads_ = SourceReads::kAuto;
  int writers_;
  int writer_threads_ = 0;
  // Set by the reader thread, read after it is joined.
  const char* source_reads_ = "";
  std::shared_ptr<const std::atomic<bool>> source_lost_;  // a mapped source's SourceReader::lost
  int fd_;
  uint64_t size_;
  std::function<void(const Block&)> on_read_;
  std::unique_ptr<Decoder> decoder_;
  std::vector<uint64_t> read_cuts_;  // the decoder's, where source blocks had best end
  std::unique_ptr<BlockPool> source_pool_;
  std::unique_ptr<BoundedQueue<BlockRef>> compressed_, decoded_;
  std::unique_ptr<EntryWriter> writer_;
  Status read_status_, decode_status_;
  std::atomic<bool> decoder_returned_{false};
  std::atomic<bool> aborting_{false};  // Abort() began: a read it cuts short is no read error
  bool decoder_failed_ = false;
};

}  // namespace staging
