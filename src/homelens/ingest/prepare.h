// Photo bytes -> stored photo rows, in two phases: decode (no model needed, so it can run
// ahead of inference or be refused early) and embed+tag+code a batch. The batch pipeline
// and the single-upload path both go through these, so a photo is prepared one way only.
// Thread-safety: free functions; concurrent calls need distinct Embedders and batches.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "homelens/core/result.h"
#include "homelens/image/decode.h"
#include "homelens/model/embedder.h"
#include "homelens/store/records.h"
#include "homelens/tags/tagger.h"

namespace homelens::ingest {

// Thread seconds per ingest stage, summed over workers: where indexing time goes.
struct StageSeconds {
  double read = 0;        // photo files read from disk
  double hash = 0;        // SHA-256 of the bytes and the lookups that skip stored photos
  double decode = 0;      // JPEG/PNG/... to RGB
  double preprocess = 0;  // resize, crop, normalize into the network's input
  double forward = 0;     // the network
  double tags = 0;        // tag heads and binary codes
  double store = 0;       // database writes
  StageSeconds& operator+=(const StageSeconds& o);
};

struct DecodedPhoto {
  std::string name;    // names the photo in errors (file path, upload name)
  std::string sha256;  // of the bytes: the photo's identity
  int width = 0, height = 0;  // full-resolution size after orientation
  cv::Mat rgb;                // CV_8UC3, possibly at a DCT-reduced scale
};

// Decodes bytes already read, at the reduced scale the model allows (JPEG shorter side kept
// >= min_shorter_side; 0 = full size). kInvalidArgument naming `name` for a photo that cannot
// be decoded (unsupported format, truncated, over options' limits). `sha256` is the bytes'
// hash when the caller has it already (empty: computed here).
Result<DecodedPhoto> decode_photo(const std::string& bytes, const std::string& name,
                                  const image::DecodeOptions& options, int min_shorter_side,
                                  std::string sha256 = {});

// Embeds batch with embedder (one forward pass), tags each photo with tagger (may be empty)
// and gives it its binary code when centres is not null: the photo rows to store, in batch
// order, with model_id set. The pixels are released once embedded. A tagger failure leaves
// that photo untagged (its embedding is good, and a later run with working heads tags it from
// the stored embedding without decoding) and, when tag_failures is given, resizes it to the
// batch and puts the reason at the photo's position (other entries empty). Fails as a whole
// only when the model does. When times is given, adds the preprocess, forward and tags seconds.
Result<std::vector<store::Photo>> embed_photos(std::vector<DecodedPhoto>& batch,
                                               model::Embedder& embedder,
                                               const std::string& model_id,
                                               const tags::Tagger& tagger,
                                               const std::vector<float>* centres,
                                               std::vector<std::string>* tag_failures = nullptr,
                                               StageSeconds* times = nullptr);

}  // namespace homelens::ingest
