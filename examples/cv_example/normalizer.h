// The images' way onto the device: uint8 NCHW in, normalised float out, as torchvision's
// ToTensor + Normalize with ImageNet's statistics, folded into one multiply-add on the device.
#ifndef CV_EXAMPLE_NORMALIZER_H_
#define CV_EXAMPLE_NORMALIZER_H_

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace cv_example {

class Normalizer {
 public:
  // `channels_last`: the result in NHWC memory order, which cuDNN's convolutions prefer.
  Normalizer(c10::Device device, bool channels_last);
  // (images / 255 - mean) / std on the device; the copy there does not block the host.
  at::Tensor operator()(const at::Tensor& images) const;

 private:
  bool channels_last_;
  at::Tensor scale_, shift_;
};

}  // namespace cv_example

#endif  // CV_EXAMPLE_NORMALIZER_H_
