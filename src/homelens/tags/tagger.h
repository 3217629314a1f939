// Applying the heads where photos enter HomeLens: the Tagger the pipeline and the server
// call for photos being embedded, and a pass over stored photos whose tags are missing or stale.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "homelens/core/result.h"
#include "homelens/model/embedder.h"
#include "homelens/model/model_spec.h"
#include "homelens/store/store.h"
#include "homelens/tags/head.h"

namespace homelens::tags {

// Fills tags from a photo's embedding (and class probabilities). An error names what failed;
// the caller decides what an untagged photo means. Must be callable from several threads at
// once (make_tagger's is: the heads are immutable).
using Tagger = std::function<Status(const model::Embedding&, store::Tags&)>;

// Loads the heads of spec's model from `root` (see HeadSet::load) and checks that their
// embedding size matches the spec. An empty set (no head files) is not an error.
Result<std::shared_ptr<const HeadSet>> load_heads_for(const std::string& root,
                                                      const model::ModelSpec& spec);

// The heads a --heads option names: `dir` must hold heads for spec's model; an
// empty `dir` means the default heads, which may be absent (an empty set).
Result<std::shared_ptr<const HeadSet>> load_heads_option(const std::string& dir,
                                                         const model::ModelSpec& spec);

// A Tagger filling store::Tags from a photo's embedding with `heads` (checked against the
// embedding model, as load_heads_for does); it fails when an embedding does not fit the heads.
Tagger make_tagger(std::shared_ptr<const HeadSet> heads);

// Tags every photo of heads->model_id() in the store whose heads_id differs from heads->id()
// (untagged, or tagged by other heads), from its stored embedding, in transactions of
// `batch` photos. Returns how many photos were tagged.
Result<std::size_t> retag_stored(store::Store& store, const HeadSet& heads,
                                 std::size_t batch = 512);

}  // namespace homelens::tags
