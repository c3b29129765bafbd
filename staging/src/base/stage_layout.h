// What staging keeps in a destination and beside a source: the names, in one place.
#pragma once

namespace staging {

// DEST/.stage: the manifest (one record per source), the lock, and the private staging areas.
// The last three are names inside .stage, always opened through its descriptor (stage_dir.h).
inline constexpr char kStageDir[] = ".stage";
inline constexpr char kManifestDir[] = "manifest";
inline constexpr char kLockFile[] = "lock";
inline constexpr char kStagingAreas[] = "tmp";

// SOURCE.stageidx beside a .tar.gz (or in the cache directory): its gzip restart points.
inline constexpr char kGzipIndexSuffix[] = ".stageidx";

// SOURCE.stagemembers beside a tar or packed archive (or in the cache directory): where each
// member lies, for reading it in place.
inline constexpr char kMemberIndexSuffix[] = ".stagemembers";

// `stage fetch`'s files beside a download NAME; every name holding kFetchMark is bookkeeping that
// staging skips. NAME.stagefetch.part is the download in progress (resumed by the next run),
// NAME.stagefetch.resume what it was (URL, ETag, Last-Modified), NAME.stagefetch.json the record
// of a complete, verified download that makes a re-run a no-op.
inline constexpr char kFetchMark[] = ".stagefetch";
inline constexpr char kFetchPartialSuffix[] = ".stagefetch.part";
inline constexpr char kFetchResumeSuffix[] = ".stagefetch.resume";
inline constexpr char kFetchRecordSuffix[] = ".stagefetch.json";
inline constexpr char kFetchPackSuffix[] = ".stagefetch.pack";  // --pack's output until verified

}  // namespace staging
