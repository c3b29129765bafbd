// What every rank of a data-parallel run must share: the flags that shape training and the data,
// named so that a difference can be told in one line (distributed/run_agreement.h compares them).
#ifndef CV_EXAMPLE_RUN_FACTS_H_
#define CV_EXAMPLE_RUN_FACTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "distributed/run_agreement.h"
#include "loader/dataset.h"
#include "trainer.h"

namespace cv_example {

// The flags of `config` that every rank must share (not --workers, --threads, --json or the
// paths, which may differ between machines), the classes, a digest of each image list, and the
// step the run resumed from.
distributed::RunFacts run_facts(const TrainConfig& config, const std::vector<std::string>& classes,
                                const std::vector<loader::Sample>& train_set,
                                const std::vector<loader::Sample>& eval_set, int64_t resumed_step);

}  // namespace cv_example

#endif  // CV_EXAMPLE_RUN_FACTS_H_
