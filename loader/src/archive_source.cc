// Images read in place from an archive through the staging library's ArchiveMembers.
#include "archive_source.h"

#include <chrono>
#include <map>
#include <sstream>

#include "staging/archive_members.h"

namespace loader {
namespace {

constexpr std::string_view kSuffix = ".jpg";

class ArchiveStore : public SampleStore {
 public:
  explicit ArchiveStore(std::unique_ptr<staging::ArchiveMembers> members)
      : members_(std::move(members)) {}
  std::string read(uint64_t key, std::vector<uint8_t>* bytes) const override {
    staging::Status status = members_->Read(static_cast<size_t>(key), bytes);
    return status.ok() ? "" : status.message();
  }
  void will_read(std::span<const uint64_t> keys) const override {
    std::vector<size_t> members(keys.begin(), keys.end());
    members_->WillRead(members);
  }
  const staging::ArchiveMembers& members() const { return *members_; }

 private:
  std::unique_ptr<staging::ArchiveMembers> members_;
};

std::string folder_of(std::string_view name) {
  size_t slash = name.rfind('/');
  return slash == std::string_view::npos ? "" : std::string(name.substr(0, slash));
}

std::string shown(const std::string& folder) { return folder.empty() ? "(top)" : folder + "/"; }

// The folder the images come from, when the caller named none: the only one with ".jpg" members
// directly in it, else the one named like the archive ("images" for images.tar.gz).
std::string choose_folder(const std::string& archive, const std::map<std::string, size_t>& counts,
                          std::string* folder) {
  if (counts.size() == 1) {
    *folder = counts.begin()->first;
    return "";
  }
  std::string base = archive.substr(archive.rfind('/') + 1);
  std::string stem = base.substr(0, base.find('.'));
  if (counts.count(stem)) {
    *folder = stem;
    return "";
  }
  if (counts.empty()) return archive + ": no .jpg members";
  std::string list;
  for (const auto& [name, count] : counts) list += (list.empty() ? "" : ", ") + shown(name);
  return archive + ": .jpg members in several folders (" + list + "): name one as " + archive +
         "/FOLDER";
}

staging::MemberOpenOptions member_options(const std::string& folder,
                                          const DataSourceOptions& options) {
  staging::MemberOpenOptions o;
  o.max_memory = options.max_memory;
  o.sharers = options.sharers;
  o.max_member_bytes = options.max_member_bytes;
  o.preload = options.preload == Preload::kOn    ? staging::Preload::kOn
              : options.preload == Preload::kOff ? staging::Preload::kOff
                                                 : staging::Preload::kAuto;
  o.index_cache = options.index_cache;
  const bool any_folder = folder.empty();
  o.keep = [folder, any_folder](std::string_view name) {
    return name.ends_with(kSuffix) && (any_folder || folder_of(name) == folder);
  };
  return o;
}

std::string describe(const std::string& archive, const staging::MemberOpenReport& r,
                     double seconds) {
  std::ostringstream line;
  line.precision(3);
  if (r.layout == staging::MemberLayout::kInMemory) {
    line << archive << ": read once into memory (" << (r.memory_bytes >> 20) << " MiB, " << seconds
         << " s): it cannot be read at random";
    if (!r.index_note.empty()) line << "; " << r.index_note;
    return line.str();
  }
  line << archive << ": read in place (" << staging::MemberLayoutName(r.layout) << ", member index "
       << (r.index_built ? "built" : "loaded") << " in " << seconds << " s"
       << (r.index_path.empty() ? "" : ": " + r.index_path);
  if (r.preloading) line << ", reading the whole file into memory first";
  line << ")";
  return line.str();
}

}  // namespace

std::string open_archive_source(const std::string& archive, const std::string& folder,
                                const std::function<std::string(std::string_view)>& rule,
                                const DataSourceOptions& options, DataSource* out) {
  auto started = std::chrono::steady_clock::now();
  std::unique_ptr<staging::ArchiveMembers> members;
  staging::MemberOpenReport report;
  staging::Status status =
      staging::ArchiveMembers::Open(archive, member_options(folder, options), &members, &report);
  if (!status.ok()) return status.message();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::map<std::string, size_t> counts;
  for (const staging::MemberInfo& m : members->members()) ++counts[folder_of(m.name)];
  std::string chosen = folder;
  if (chosen.empty()) {
    if (std::string error = choose_folder(archive, counts, &chosen); !error.empty()) return error;
  } else if (!counts.count(chosen)) {
    return archive + ": no .jpg members directly in " + chosen + "/";
  }
  std::vector<std::string> names;
  std::vector<uint64_t> keys;
  for (size_t i = 0; i < members->members().size(); ++i) {
    const std::string& name = members->members()[i].name;
    if (folder_of(name) != chosen) continue;
    names.push_back(chosen.empty() ? name : name.substr(chosen.size() + 1));
    keys.push_back(i);
  }
  std::string prefix = archive + "/" + (chosen.empty() ? "" : chosen + "/");
  out->set = label_names(std::move(names), std::move(keys), prefix, rule);
  out->notes.push_back(describe(archive, report, seconds) + ", " +
                       std::to_string(out->set.samples.size()) + " images in " + shown(chosen));
  if (!report.index_note.empty() && report.layout != staging::MemberLayout::kInMemory)
    out->notes.push_back(report.index_note);
  if (!report.advice.empty()) out->notes.push_back(report.advice);
  for (const std::string& refused : report.refused) out->notes.push_back(archive + ": " + refused);
  out->memory_cap = report.memory_cap;
  out->store = std::make_shared<ArchiveStore>(std::move(members));
  return "";
}

}  // namespace loader
