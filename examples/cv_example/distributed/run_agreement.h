// The check at start that every rank runs the same job: the same flags that shape training, and
// the same images. Ranks started with different flags or seeing different data would otherwise
// train on silently (their gradients average all the same) or hang in mismatched collectives.
#ifndef CV_EXAMPLE_DISTRIBUTED_RUN_AGREEMENT_H_
#define CV_EXAMPLE_DISTRIBUTED_RUN_AGREEMENT_H_

#include <string>
#include <utility>
#include <vector>

namespace cv_example::distributed {

class Communicator;

// Named facts about a run: ("--lr", "0.03"), ("images", "370, digest 1f2e...").
using RunFacts = std::vector<std::pair<std::string, std::string>>;

// A short, stable digest of `text` (64-bit FNV-1a, in hex): enough to tell file lists apart.
std::string digest(const std::string& text);

// Publishes this rank's facts through the store and compares every rank's with rank 0's. Returns
// an empty string when all agree, else one line naming the first rank and fact that differ
// (the same line on every rank). Waits at most the communicator's timeout for the others.
std::string check_every_rank_agrees(Communicator& communicator, const RunFacts& facts);

}  // namespace cv_example::distributed

#endif  // CV_EXAMPLE_DISTRIBUTED_RUN_AGREEMENT_H_
