#include "homelens/ingest/prepare.h"

#include <chrono>

#include "homelens/model/embedding.h"

namespace homelens::ingest {

StageSeconds& StageSeconds::operator+=(const StageSeconds& o) {
  read += o.read;
  hash += o.hash;
  decode += o.decode;
  preprocess += o.preprocess;
  forward += o.forward;
  tags += o.tags;
  store += o.store;
  return *this;
}

Result<DecodedPhoto> decode_photo(const std::string& bytes, const std::string& name,
                                  const image::DecodeOptions& options, int min_shorter_side,
                                  std::string sha256) {
  image::DecodeOptions dopt = options;
  dopt.min_shorter_side = min_shorter_side;
  auto decoded = image::decode(bytes, name, dopt);
  // Whatever the decoder's reason, the photo is what is wrong, not the system.
  if (!decoded) return Error{decoded.message(), ErrorCode::kInvalidArgument};
  DecodedPhoto out;
  out.name = name;
  out.sha256 = sha256.empty() ? image::sha256_hex(bytes) : std::move(sha256);
  out.width = decoded->width;
  out.height = decoded->height;
  out.rgb = std::move(decoded->rgb);
  return out;
}

Result<std::vector<store::Photo>> embed_photos(std::vector<DecodedPhoto>& batch,
                                               model::Embedder& embedder,
                                               const std::string& model_id,
                                               const tags::Tagger& tagger,
                                               const std::vector<float>* centres,
                                               std::vector<std::string>* tag_failures,
                                               StageSeconds* times) {
  std::vector<store::Photo> photos;
  if (tag_failures) tag_failures->assign(batch.size(), {});
  if (batch.empty()) return photos;
  std::vector<cv::Mat> pixels;
  pixels.reserve(batch.size());
  for (const DecodedPhoto& d : batch) pixels.push_back(d.rgb);  // shares, does not copy
  model::EmbedTimes embed_times;
  auto embeddings = embedder.embed(pixels, times ? &embed_times : nullptr);
  pixels.clear();
  for (DecodedPhoto& d : batch) d.rgb.release();
  if (!embeddings) return embeddings.error();
  const auto tags_start = std::chrono::steady_clock::now();
  photos.resize(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    store::Photo& p = photos[i];
    model::Embedding& e = (*embeddings)[i];
    p.sha256 = batch[i].sha256;
    p.model_id = model_id;
    p.width = batch[i].width;
    p.height = batch[i].height;
    if (tagger) {
      if (auto st = tagger(e, p.tags); !st) {
        p.tags = {};  // a half-filled set would pass for tags
        if (tag_failures)
          (*tag_failures)[i] = make_error(batch[i].name, "not tagged: " + st.message()).message;
      }
    }
    p.embedding = std::move(e.vector);
    p.head_embedding = std::move(e.head_vector);
    if (centres) p.code = model::binary_code(p.embedding, *centres);
  }
  if (times) {
    times->preprocess += embed_times.preprocess;
    times->forward += embed_times.forward;
    times->tags += std::chrono::duration<double>(std::chrono::steady_clock::now() - tags_start).count();
  }
  return photos;
}

}  // namespace homelens::ingest
