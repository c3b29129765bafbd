// The trainer's images: --data_dir as a directory or an archive read in place, with the
// archive options of the command line.
#ifndef CV_EXAMPLE_TRAINING_DATA_H_
#define CV_EXAMPLE_TRAINING_DATA_H_

#include <string>

#include "loader/data_source.h"
#include "trainer.h"

namespace cv_example {

// Opens config.data_dir labelled by the Pets rule; says on stderr how an archive is read (when
// `report`). --max_memory caps the machine: each of the `local_ranks` processes on it holds its
// own copy of what an archive keeps in memory, so each gets that share of the cap. Returns "" or
// a one-line reason.
std::string open_training_data(const TrainConfig& config, int local_ranks, bool report,
                               loader::DataSource* source);

}  // namespace cv_example

#endif  // CV_EXAMPLE_TRAINING_DATA_H_
