// The seam of the evaluation stage: a similarity method turns photos into descriptors and
// scores two descriptors. The evaluator only ever names methods through the registry, so a new
// method plugs in with one register_method call and no change to the evaluator.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "homelens/core/progress.h"
#include "homelens/core/result.h"
#include "homelens/model/model_spec.h"
#include "homelens/rank/expansion.h"
#include "homelens/rank/recommender.h"
#include "homelens/store/records.h"

namespace homelens::eval {

// What a method keeps of one photo; each method fills the members it needs.
struct Descriptor {
  std::vector<float> values;        // histogram or embedding
  std::vector<std::uint8_t> bits;   // hash or binary code
  cv::Mat mat;                      // local features (SIFT: one 128-d row a keypoint)
  store::Tags tags;                 // `final`: what the heads said
  std::vector<float> projected;     // cnn-proj*, final-proj: the learned projection of values
  std::vector<float> query_values;  // final: its expanded vector, when outside the heads' domain
};

class EmbeddingCache;

// What methods that need a model get. The cache is shared by every method of one run, so cnn,
// cnn-binary and final embed each photo once.
struct MethodContext {
  model::ModelSpec spec;
  std::string heads_dir;  // tag heads and projection.json ("" = the default heads folder)
  rank::ScoreOptions final_scoring;  // weights and tag gating of the final methods
  bool heads_domain = true;          // final methods: false leaves the heads' domain model out
  // final: photos outside the heads' domain query with their vector expanded among the photos
  // described (as the service expands among the indexed ones; rank/expansion.h).
  rank::QueryExpansion expand_outside;
  std::string db;         // an index whose stored embeddings stand in for embedding ("" = none)
  ProgressMode progress = ProgressMode::kQuiet;
  std::shared_ptr<EmbeddingCache> cache;
  std::string params;     // what follows ':' in the name asked for ("n=3,alpha=3"), else ""
};

class Method {
 public:
  virtual ~Method() = default;
  // Descriptors of the photo files, in order. Fails naming the first unreadable photo.
  virtual Result<std::vector<Descriptor>> describe(const std::vector<std::string>& paths) = 0;
  // How alike b is to the query a, higher more alike; safe to call from several threads at once.
  virtual double similarity(const Descriptor& a, const Descriptor& b) const = 0;
  // Whether similarity(a, b) == similarity(b, a), which halves a retrieval's work.
  virtual bool symmetric() const { return true; }
};

using MethodFactory = std::function<Result<std::unique_ptr<Method>>(const MethodContext&)>;

struct MethodInfo {
  std::string name;
  std::string help;  // one line: what it compares and how
  bool needs_model = false;
  MethodFactory make;
  bool takes_params = false;  // whether "name:key=value,..." is accepted
};

// Adds (or replaces) a method under info.name.
void register_method(MethodInfo info);
// Every registered method, built-ins first, in registration order.
std::vector<MethodInfo> methods();
// The registered name of "name" or "name:params" (the part before the first ':').
std::string method_base_name(const std::string& name);
// The method named `name` ("name:key=value,..." passes the parameters on as ctx.params to a
// method that takes them); kInvalidArgument listing the known names when there is none, or
// naming the method when it takes no parameters.
Result<std::unique_ptr<Method>> make_method(const std::string& name, const MethodContext& ctx);

// Parameters "key=value,key=value" as a map; fails naming a pair without '=' or a key that is
// not in `known`.
Result<std::map<std::string, std::string>> parse_params(const std::string& params,
                                                        const std::vector<std::string>& known);

// Embeddings of photo files with ctx.spec's model, kept by path for the whole run.
class EmbeddingCache {
 public:
  // The embeddings of the paths (L2-normalized rows), computing only those not cached yet,
  // with one inference worker per core.
  Result<std::vector<std::vector<float>>> get(const std::vector<std::string>& paths,
                                              const MethodContext& ctx);
  // What the tag heads see of each path (model::head_input): the embedding itself unless the
  // spec has a head_view.
  Result<std::vector<std::vector<float>>> get_heads(const std::vector<std::string>& paths,
                                                    const MethodContext& ctx);

 private:
  Status fill(const std::vector<std::string>& paths, const MethodContext& ctx);
  std::map<std::string, std::vector<float>> rows_;
  std::map<std::string, std::vector<float>> head_rows_;  // only for a spec with a head_view
};

// Built-in methods (hsv, phash, sift, cnn, cnn-binary, final, cnn-proj, cnn-proj-mix,
// final-proj); method.cc registers them.
void register_builtin_methods();
// The collection-aware CNN methods (cnn-flip, cnn-white, cnn-qe, cnn-dba: expansion.h);
// registered after the built-ins.
void register_collection_methods();

}  // namespace homelens::eval
