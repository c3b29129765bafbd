// The images of make_pets' synthetic Oxford-IIIT Pets (make_pets.cc says what they look like and
// why). Each depends only on the seed, its index and the set's size, never on the thread that
// makes it.
#ifndef CV_EXAMPLE_SYNTHETIC_PETS_H_
#define CV_EXAMPLE_SYNTHETIC_PETS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cv_example {

// Image `index`'s name, as the real archive names it: breeds interleaved so any count is
// balanced, numbered from 1 ("Abyssinian_1.jpg").
std::string pet_file_name(size_t index);

// The encoded bytes of image `index` of a set of `count` made with `seed` into `*bytes`: a JPEG,
// or for a few fixed indices a grayscale JPEG, a PNG or an RGBA PNG under the same ".jpg" name.
// "" or the reason encoding failed.
std::string make_pet_image(uint64_t seed, size_t index, size_t count, std::vector<uint8_t>* bytes);

}  // namespace cv_example

#endif  // CV_EXAMPLE_SYNTHETIC_PETS_H_
