// Near-duplicate photos (a relisted home, a photo copied from another listing): the same
// picture re-encoded, resized, cropped a little, brightened or watermarked. Found by the Hamming
// distance of the binary codes the index already stores for every photo.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "homelens/core/result.h"
#include "homelens/store/store.h"

namespace homelens::eval {

// Bits of the CNN binary code (1280 for MobileNetV2) at or under which two photos are called
// the same picture. Measured (docs/eval.md): on the 2,140 house photos every cross-listing pair
// at <= 135 bits is the same picture (pHash within 2 bits) and the nearest different pictures
// are 273 bits apart; 200 is the middle of that gap. `homelens eval dupes` gives its recall on
// edited copies (0.72 over all edits; whole-picture edits fare best).
inline constexpr int kDefaultDupeThreshold = 200;

struct DupeMember {
  std::int64_t image_id = 0;
  std::string listing_id;
  std::string source;
  int distance = 0;  // bits from the group's first member
};

struct DupeGroup {
  std::vector<DupeMember> members;  // by image id; at least two listings
};

// Groups of images from different listings whose codes are within threshold bits, joined
// transitively; photos of one listing alone never form a group. Images without a code (centres
// not set yet) are skipped. Groups come ordered by their smallest image id.
Result<std::vector<DupeGroup>> find_duplicates(store::Store& store, const std::string& model_id,
                                               int threshold);

// The images of other listings within threshold bits of image_id, nearest first;
// kNotFound when the image has no code for the model.
Result<std::vector<DupeMember>> duplicates_of(store::Store& store, const std::string& model_id,
                                              std::int64_t image_id, int threshold);

// The edits a copied photo goes through, applied to RGB pixels (re-encoding happens on write).
struct Transform {
  std::string name;
  int jpeg_quality = 90;
  std::function<cv::Mat(const cv::Mat&)> apply;
};
// reencode (JPEG q50), resize (half size), crop (5% off each side), brighten (+40 levels),
// watermark (a translucent band with text).
std::vector<Transform> duplicate_transforms();

struct TransformScore {
  std::string transform;
  std::size_t true_pairs = 0, false_pairs = 0, copies = 0;
  double precision = 1, recall = 0;
};

struct DupeMeasurement {
  std::string method;
  int bits = 0;
  int threshold = 0;                  // the chosen one
  std::size_t original_false_pairs = 0;  // distinct originals within the threshold
  std::vector<TransformScore> scores;    // at the chosen threshold
  // recall over all transforms, and false pairs, at each threshold 0..bits/2
  std::vector<std::pair<double, std::size_t>> curve;
};

// Scores copies against originals given the codes: originals[i] and copies[t][i] (copy of
// original i by transform t). A copy's true pair is its original; every other original within
// the threshold is a false pair, and so is any pair of originals. The chosen threshold is the
// largest with no false pair at all (highest recall at precision 1 on this set).
DupeMeasurement measure_duplicates(const std::string& method,
                                   const std::vector<std::vector<std::uint8_t>>& originals,
                                   const std::vector<std::vector<std::vector<std::uint8_t>>>& copies,
                                   const std::vector<std::string>& transform_names,
                                   std::optional<int> fixed_threshold = std::nullopt);

}  // namespace homelens::eval
