// What an evaluation found, and its predictions as the CSV --predictions_out writes.
#ifndef CV_EXAMPLE_EVALUATION_H_
#define CV_EXAMPLE_EVALUATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "distributed/data_parallel.h"
#include "loader/dataset.h"

namespace cv_example {

// One evaluated image: its position in the evaluated samples, the predicted class and its logit.
using Prediction = distributed::EvalRecord;

struct EvalResult {
  int64_t correct = 0, total = 0;
  std::vector<Prediction> predictions;  // when they were asked for, in sample order
  double accuracy() const { return total ? 100.0 * correct / total : 0.0; }
};

// Writes `result`'s predictions to `path` as "file,true_label,predicted_label,logit" lines (RFC
// 4180 quoting), `samples` being the evaluated set and `classes` their names. "" or one line.
std::string write_predictions_csv(const std::string& path, const EvalResult& result,
                                  const std::vector<loader::Sample>& samples,
                                  const std::vector<std::string>& classes);

}  // namespace cv_example

#endif  // CV_EXAMPLE_EVALUATION_H_
