// A trained tag head: the small versioned file (JSON) that turns one model's embedding into
// class probabilities for one task, and the set of heads `index`, `tag` and the server apply.
// A head records the model id whose embeddings it was trained on and refuses any other.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "homelens/core/result.h"
#include "homelens/model/embedder.h"
#include "homelens/store/records.h"
#include "homelens/tags/dataset.h"
#include "homelens/tags/domain.h"
#include "homelens/tags/logreg.h"
#include "homelens/tags/transform.h"

namespace homelens::tags {

inline constexpr const char* kHeadFormat = "homelens-tag-head";
// Version 2 added "transform"; version 1 files (no transform) still load.
inline constexpr int kHeadVersion = 2;

struct Head {
  Task task = Task::kRoom;
  std::string model_id;  // the embedding model the head was trained on
  std::vector<std::string> classes;
  FeatureTransform transform;  // applied to the embedding before the standardizer
  Standardizer standardizer;
  LinearModel model;
  nlohmann::json training;  // how it was trained (options, CV figures), informational
};

// Class probabilities for one embedding. Errors (naming the head's task and models) when
// `model_id` differs from the head's or the dimension does not match.
Result<std::vector<double>> predict(const Head& head, std::span<const float> embedding,
                                    const std::string& model_id);

// Writes the head as JSON (floats round-trip exactly), creating parent folders.
Status save_head(const Head& head, const std::string& path);
// Reads a head; errors name the file and say what is wrong (format, version, shapes).
Result<Head> load_head(const std::string& path);

// JSON helpers shared by the files trained next to the heads (heads, projection.json).
// A vector as floats (a float prints and parses back exactly; half the size of doubles).
nlohmann::json to_floats(const std::vector<double>& v);
// n numbers from a JSON array; errors name the file and the member `what`.
Result<std::vector<double>> from_floats(const nlohmann::json& j, std::size_t n,
                                        const std::string& what, const std::string& path);
// A non-empty JSON array of rows of n numbers each, flattened row-major; errors name the file
// and the member `what`.
Result<std::vector<double>> rows_from_floats(const nlohmann::json& rows, std::size_t n,
                                             const std::string& what, const std::string& path);
// Reads a JSON object whose "format" is `format` and whose "version" is one this build reads
// (versions 1 to max_version); errors name the file and call it `what` ("projection file").
Result<nlohmann::json> read_json_file(const std::string& path, const std::string& format,
                                      int max_version, const std::string& what);
// Writes j to path atomically (a reader never sees half a file), creating parent folders.
Status write_json_file(const nlohmann::json& j, const std::string& path, const std::string& what);

// Where the heads of `model_id` live under a heads root: ROOT/MODEL_ID/TASK.json.
std::string head_path(const std::string& root, const std::string& model_id, Task task);
// The heads root: $HOMELENS_HEADS, else the repository's heads/ folder.
std::string default_heads_dir();

// The heads one model's photos are tagged with. Any subset of the four tasks may be present,
// and the domain model (domain.h) that says which photos they may judge.
class HeadSet {
 public:
  // Loads the heads for model_id from ROOT/MODEL_ID/ (or ROOT itself when it holds head
  // files directly), with domain.json when present. Errors when a file is malformed or was
  // trained for another model. A root without any head gives an empty set, not an error.
  static Result<HeadSet> load(const std::string& root, const std::string& model_id);

  bool empty() const { return heads_.empty(); }
  // "front, room, style, stories, domain" (those present).
  std::string tasks() const;
  const std::string& folder() const { return folder_; }
  // Identifies the exact head files (model id + hash of their bytes), stored with tags so
  // photos tagged by older heads can be found and re-tagged.
  const std::string& id() const { return id_; }
  const std::string& model_id() const { return model_id_; }
  const Head* get(Task t) const;
  const DomainModel* domain() const { return domain_ ? &*domain_ : nullptr; }
  // The same heads judging every photo (no domain model, the heads' id without it): what
  // `eval`'s final:domain=0 measures against.
  HeadSet without_domain() const;

  // Fills tags from one embedding of model_id (errors as predict()). A photo outside the
  // domain model's domain is tagged as judged and not a house photo: front 0, no room, style
  // or stories (tags.heads_id is set all the same).
  Status tag(std::span<const float> embedding, const std::string& model_id,
             store::Tags& tags) const;

 private:
  std::vector<Head> heads_;
  std::optional<DomainModel> domain_;
  std::string folder_, id_, model_id_;
  std::string heads_only_id_;  // id_ without the domain model's bytes
};

}  // namespace homelens::tags
