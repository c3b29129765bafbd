// PyTorch's OneCycleLR (two phases, cosine annealing) as a pure function of the step, with the
// momentum cycle it applies to Adam's beta1.
#ifndef CV_EXAMPLE_ONE_CYCLE_H_
#define CV_EXAMPLE_ONE_CYCLE_H_

#include <cstdint>

namespace cv_example {

struct OneCycleOptions {
  double max_lr = 3e-2;
  int64_t total_steps = 1;        // epochs x steps per epoch; at least 2
  double pct_start = 0.3;         // share of the steps spent warming up
  double div_factor = 25;         // initial lr = max_lr / div_factor
  double final_div_factor = 1e4;  // final lr = initial lr / final_div_factor
  double base_momentum = 0.85;    // beta1 at the peak lr
  double max_momentum = 0.95;     // beta1 at the start and the end
};

// The learning rate and beta1 after `step` scheduler steps (0 = as constructed), for 0 <= step <
// total_steps: cosine from initial to max lr over the first pct_start * total_steps - 1 steps,
// then cosine down to the final lr at step total_steps - 1; beta1 moves the opposite way.
class OneCycle {
 public:
  explicit OneCycle(const OneCycleOptions& options);
  double lr(int64_t step) const;
  double beta1(int64_t step) const;
  double initial_lr() const { return options_.max_lr / options_.div_factor; }
  double final_lr() const { return initial_lr() / options_.final_div_factor; }

 private:
  // Where `step` lies: the phase (0 warm-up, 1 annealing) and the fraction of it done.
  struct Position {
    int phase;
    double fraction;
  };
  Position position(int64_t step) const;

  OneCycleOptions options_;
  double warmup_end_;  // the step at which the lr peaks, fractional as in PyTorch
};

}  // namespace cv_example

#endif  // CV_EXAMPLE_ONE_CYCLE_H_
