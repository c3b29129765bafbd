// Crafting tar archives at test time, byte by byte: the hostile ones (names with '..', links
// leaving the root, hardlinks carrying data, lying size fields) are exactly what archive writers
// refuse to make. Headers are ustar with correct checksums; a member whose name or link target
// does not fit gets a pax extended header first, as GNU tar and bsdtar write them.
#pragma once

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace staging_test {

struct TarMember {
  std::string name;
  char type = '0';  // '0' file, '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' FIFO
  std::string data;
  std::string link;  // symlink or hardlink target
  uint32_t mode = 0644;
  std::vector<std::pair<std::string, std::string>> pax;  // extra pax records, written first
  std::optional<uint64_t> ustar_size;                    // a size field that lies about `data`
};

inline TarMember File(std::string name, std::string data, uint32_t mode = 0644) {
  return {.name = std::move(name), .type = '0', .data = std::move(data), .mode = mode};
}
inline TarMember Dir(std::string name, uint32_t mode = 0755) {
  return {.name = std::move(name), .type = '5', .mode = mode};
}
inline TarMember Symlink(std::string name, std::string target) {
  return {.name = std::move(name), .type = '2', .link = std::move(target), .mode = 0777};
}
inline TarMember Hardlink(std::string name, std::string target) {
  return {.name = std::move(name), .type = '1', .link = std::move(target)};
}
inline TarMember Special(std::string name, char type) {
  return {.name = std::move(name), .type = type, .mode = 0644};
}

namespace internal {

inline void PutOctal(char* field, size_t width, uint64_t value) {
  char digits[32];
  int n = std::snprintf(digits, sizeof digits, "%0*llo", static_cast<int>(width - 1),
                        static_cast<unsigned long long>(value));
  std::memcpy(field, digits, std::min(width, static_cast<size_t>(n) + 1));
}

inline void PutString(char* field, size_t width, const std::string& value) {
  std::memcpy(field, value.data(), std::min(width, value.size()));
}

inline std::string PadToBlock(std::string data) {
  data.resize((data.size() + 511) / 512 * 512, '\0');
  return data;
}

inline std::string Header(const std::string& name, char type, uint32_t mode, uint64_t size,
                          const std::string& link) {
  char h[512] = {};
  PutString(h, 100, name);
  PutOctal(h + 100, 8, mode);
  PutOctal(h + 108, 8, 0);
  PutOctal(h + 116, 8, 0);
  PutOctal(h + 124, 12, size);
  PutOctal(h + 136, 12, 1700000000);
  h[156] = type;
  PutString(h + 157, 100, link);
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  PutString(h + 265, 32, "root");
  PutString(h + 297, 32, "root");
  PutOctal(h + 329, 8, 0);
  PutOctal(h + 337, 8, 0);
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h + 148, 8, "%06o", sum);
  h[155] = ' ';
  return std::string(h, sizeof h);
}

// "<len> key=value\n", where <len> counts the whole record, its own digits included.
inline std::string PaxRecord(const std::string& key, const std::string& value) {
  size_t body = key.size() + value.size() + 3;
  size_t len = body + 1;
  while (std::to_string(len).size() + body != len) ++len;
  return std::to_string(len) + " " + key + "=" + value + "\n";
}

}  // namespace internal

// The tar stream for `members`, ending with the two zero blocks.
inline std::string Tar(const std::vector<TarMember>& members) {
  std::string out;
  for (const TarMember& m : members) {
    std::vector<std::pair<std::string, std::string>> pax = m.pax;
    if (m.name.size() > 100) pax.emplace_back("path", m.name);
    if (m.link.size() > 100) pax.emplace_back("linkpath", m.link);
    if (!pax.empty()) {
      std::string records;
      for (const auto& [key, value] : pax) records += internal::PaxRecord(key, value);
      out += internal::Header("PaxHeader/x", 'x', 0644, records.size(), "");
      out += internal::PadToBlock(records);
    }
    out += internal::Header(m.name.substr(0, 100), m.type, m.mode,
                            m.ustar_size.value_or(m.data.size()), m.link.substr(0, 100));
    out += internal::PadToBlock(m.data);
  }
  out += std::string(1024, '\0');
  return out;
}

inline std::string Gzip(const std::string& data) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2");
  }
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(z.total_out);
  return out;
}

// With a content checksum, as the zstd program writes by default.
inline std::string Zstd(const std::string& data, int level = 3) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  size_t n = ZSTD_compress2(cctx, out.data(), out.size(), data.data(), data.size());
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(n)) throw std::runtime_error(ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

}  // namespace staging_test
