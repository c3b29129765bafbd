#include "evaluation.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace cv_example {
namespace {

// A CSV field as RFC 4180 writes it: quoted (quotes doubled) when it holds a comma, a quote or a
// line break, as file and class names from an archive may.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

}  // namespace

std::string write_predictions_csv(const std::string& path, const EvalResult& result,
                                  const std::vector<loader::Sample>& samples,
                                  const std::vector<std::string>& classes) {
  std::ostringstream csv;
  csv << "file,true_label,predicted_label,logit\n";
  for (const Prediction& p : result.predictions) {
    const loader::Sample& sample = samples[p.sample];
    char logit[32];
    std::snprintf(logit, sizeof(logit), "%.6g", p.logit);
    csv << csv_field(std::filesystem::path(sample.path).filename().string()) << ","
        << csv_field(classes[sample.label]) << "," << csv_field(classes[p.predicted]) << ","
        << logit << "\n";
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << csv.str();
  out.close();
  if (!out) return path + ": cannot write";
  return {};
}

}  // namespace cv_example
