// What staging keeps in a destination and beside a source: the names, in one place.
#pragma once

namespace staging {

// DEST/.stage: the manifest (one record per source), the lock, and the private staging areas.
inline constexpr char kStageDir[] = ".stage";
inline constexpr char kManifestDir[] = ".stage/manifest";
inline constexpr char kLockFile[] = ".stage/lock";
inline constexpr char kStagingAreas[] = ".stage/tmp";

// SOURCE.stageidx beside a .tar.gz (or in the cache directory): its gzip restart points.
inline constexpr char kGzipIndexSuffix[] = ".stageidx";

// SOURCE.stagemembers beside a tar or packed archive (or in the cache directory): where each
// member lies, for reading it in place.
inline constexpr char kMemberIndexSuffix[] = ".stagemembers";

}  // namespace staging
