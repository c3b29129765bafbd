#include "safetensors.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty.h>
#include <torch/nn/module.h>

#include <bit>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

#include "common/file_io.h"

namespace cv_example {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian and is copied as is");

// Headers of real files are a few hundred KB; this bounds what a damaged length can allocate.
constexpr uint64_t kMaxHeaderBytes = 100 << 20;

const std::vector<std::pair<std::string, at::ScalarType>>& dtype_names() {
  static const std::vector<std::pair<std::string, at::ScalarType>> names = {
      {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16},
      {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
      {"U8", at::kByte},    {"BOOL", at::kBool}};
  return names;
}

std::optional<at::ScalarType> dtype_from_name(const std::string& name) {
  for (const auto& [n, type] : dtype_names()) {
    if (n == name) return type;
  }
  return std::nullopt;
}

std::string dtype_name(at::ScalarType type) {
  for (const auto& [n, t] : dtype_names()) {
    if (t == type) return n;
  }
  return c10::toString(type);
}

std::string shape_text(at::IntArrayRef shape) {
  std::ostringstream out;
  out << shape;
  return out.str();
}

// One header entry, validated.
struct Entry {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

// Checks one header entry against the `data_size`-byte data section; "" or the reason.
std::string parse_entry(const std::string& name, const nlohmann::json& value, uint64_t data_size,
                        Entry* entry) {
  if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
      !value.contains("data_offsets") || !value["dtype"].is_string() ||
      !value["shape"].is_array() || !value["data_offsets"].is_array() ||
      value["data_offsets"].size() != 2) {
    return "bad header: tensor '" + name + "' needs dtype, shape and two data_offsets";
  }
  std::optional<at::ScalarType> dtype = dtype_from_name(value["dtype"].get<std::string>());
  if (!dtype) {
    return "tensor '" + name + "' has unsupported dtype " + value["dtype"].get<std::string>();
  }
  uint64_t elements = 1;
  std::vector<int64_t> shape;
  for (const auto& dim : value["shape"]) {
    if (!dim.is_number_unsigned() || dim.get<uint64_t>() > (uint64_t{1} << 40)) {
      return "bad header: tensor '" + name + "' has an invalid shape";
    }
    shape.push_back(dim.get<int64_t>());
    elements *= dim.get<uint64_t>();
  }
  const auto& offsets = value["data_offsets"];
  if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned()) {
    return "bad header: tensor '" + name + "' has invalid data_offsets";
  }
  const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
  const uint64_t bytes = elements * c10::elementSize(*dtype);
  if (begin > end || end - begin != bytes) {
    return "bad header: tensor '" + name + "' has " + std::to_string(end - begin) +
           " data bytes for shape " + shape_text(shape) + " of " + dtype_name(*dtype);
  }
  if (end > data_size) {
    return "truncated: tensor '" + name + "' ends at data byte " + std::to_string(end) + " of " +
           std::to_string(data_size);
  }
  *entry = {name, *dtype, std::move(shape), begin, end};
  return {};
}

std::string parse_file(const std::string& bytes, TensorMap* tensors) {
  uint64_t header_size = 0;
  if (bytes.size() < sizeof(header_size)) return "truncated: no header length";
  std::memcpy(&header_size, bytes.data(), sizeof(header_size));
  if (header_size > kMaxHeaderBytes) {
    return "bad header: length " + std::to_string(header_size) + " is implausible";
  }
  if (header_size > bytes.size() - sizeof(header_size)) {
    return "truncated: header of " + std::to_string(header_size) + " bytes, file has " +
           std::to_string(bytes.size());
  }
  const nlohmann::json header = nlohmann::json::parse(
      bytes.begin() + sizeof(header_size), bytes.begin() + sizeof(header_size) + header_size,
      /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) return "bad header: not a JSON object";

  const char* data = bytes.data() + sizeof(header_size) + header_size;
  const uint64_t data_size = bytes.size() - sizeof(header_size) - header_size;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") continue;
    Entry entry;
    if (std::string error = parse_entry(name, value, data_size, &entry); !error.empty()) {
      return error;
    }
    entries.push_back(std::move(entry));
  }
  for (const Entry& entry : entries) {
    at::Tensor tensor = at::empty(entry.shape, at::dtype(entry.dtype));
    std::memcpy(tensor.data_ptr(), data + entry.begin, entry.end - entry.begin);
    (*tensors)[entry.name] = std::move(tensor);
  }
  return {};
}

// The module's tensors by name, live (not detached), for copying into.
std::map<std::string, at::Tensor> named_tensors(const torch::nn::Module& module) {
  std::map<std::string, at::Tensor> named;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    named[item.key()] = item.value();
  for (const auto& item : module.named_buffers(/*recurse=*/true)) named[item.key()] = item.value();
  return named;
}

bool is_floating(at::ScalarType type) { return c10::isFloatingType(type); }

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Whether `have` differs from `want` in the leading (class) dimension only.
bool differs_in_classes(at::IntArrayRef have, at::IntArrayRef want) {
  return have.size() == want.size() && !have.empty() && have[0] != want[0] &&
         have.slice(1) == want.slice(1);
}

}  // namespace

std::string read_safetensors(const std::string& path, TensorMap* tensors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return path + ": cannot open: " + std::strerror(errno);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return path + ": cannot read";
  tensors->clear();
  if (std::string error = parse_file(bytes, tensors); !error.empty()) return path + ": " + error;
  return {};
}

std::string write_safetensors(const std::string& path, const TensorMap& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::vector<at::Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    at::Tensor cpu = tensor.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = cpu.numel() * cpu.element_size();
    header[name] = {{"dtype", dtype_name(cpu.scalar_type())},
                    {"shape", cpu.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(std::move(cpu));
  }
  std::string json = header.dump();
  // The reference writer pads the header with spaces to a multiple of 8 so the data is aligned.
  json.append((8 - json.size() % 8) % 8, ' ');
  const uint64_t header_size = json.size();
  std::string file(sizeof(header_size), '\0');
  std::memcpy(file.data(), &header_size, sizeof(header_size));
  file += json;
  file.reserve(file.size() + offset);
  for (const at::Tensor& t : contiguous) {
    file.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  }
  return common::WriteFileAtomically(path, file);
}

TensorMap state_dict(const torch::nn::Module& module) {
  TensorMap tensors;
  for (auto& [name, tensor] : named_tensors(module)) tensors[name] = tensor.detach();
  return tensors;
}

std::string load_state_dict(torch::nn::Module& module, const TensorMap& tensors,
                            const std::string& source, const std::string& classifier,
                            bool* classifier_skipped) {
  *classifier_skipped = false;
  const auto targets = named_tensors(module);
  for (const auto& [name, tensor] : tensors) {
    if (!targets.count(name)) return source + ": unexpected tensor '" + name + "'";
  }
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  for (const auto& [name, target] : targets) {
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      if (ends_with(name, "num_batches_tracked")) continue;
      return source + ": missing tensor '" + name + "'";
    }
    const at::Tensor& given = it->second;
    if (name.rfind(classifier, 0) == 0 && differs_in_classes(given.sizes(), target.sizes())) {
      *classifier_skipped = true;
      continue;
    }
    if (given.sizes() != target.sizes()) {
      return source + ": tensor '" + name + "' has shape " + shape_text(given.sizes()) +
             ", the model expects " + shape_text(target.sizes());
    }
    if (is_floating(given.scalar_type()) != is_floating(target.scalar_type())) {
      return source + ": tensor '" + name + "' has dtype " + dtype_name(given.scalar_type()) +
             ", the model expects " + dtype_name(target.scalar_type());
    }
    copies.emplace_back(target, given);
  }
  // Nothing is changed unless everything checked out.
  at::NoGradGuard no_grad;
  for (auto& [target, given] : copies) target.copy_(given);
  return {};
}

}  // namespace cv_example
