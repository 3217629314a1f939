#include "homelens/tags/tagger.h"

#include <unordered_set>

namespace homelens::tags {

Result<std::shared_ptr<const HeadSet>> load_heads_for(const std::string& root,
                                                      const model::ModelSpec& spec) {
  auto set = HeadSet::load(root, spec.id);
  if (!set) return set.error();
  for (Task t : kAllTasks)
    if (const Head* h = set->get(t); h && static_cast<int>(h->model.dim) != spec.embedding_dim)
      return make_error(head_path(root, spec.id, t),
                        "head expects " + std::to_string(h->model.dim) + "-d embeddings, model " +
                            spec.id + " gives " + std::to_string(spec.embedding_dim));
  return std::make_shared<const HeadSet>(std::move(*set));
}

Result<std::shared_ptr<const HeadSet>> load_heads_option(const std::string& dir,
                                                         const model::ModelSpec& spec) {
  const std::string root = dir.empty() ? default_heads_dir() : dir;
  auto heads = load_heads_for(root, spec);
  if (!heads) return heads.error();
  if ((*heads)->empty() && !dir.empty())
    return make_error(root, "no tag heads for model " + spec.id);
  return heads;
}

Tagger make_tagger(std::shared_ptr<const HeadSet> heads) {
  return [heads](const model::Embedding& e, store::Tags& t) {
    return heads->tag(model::head_input(e), heads->model_id(), t);
  };
}

Result<std::size_t> retag_stored(store::Store& store, const HeadSet& heads, std::size_t batch) {
  if (heads.empty()) return std::size_t{0};
  // Collected first: writing while the scan's statement is open would fight over the table.
  std::vector<store::Photo> stale;
  std::unordered_set<std::string> seen;
  auto st = store.scan(heads.model_id(), [&](const store::ImageWithPhoto& r) {
    if (r.photo.tags.heads_id == heads.id() || !seen.insert(r.photo.sha256).second) return;
    stale.push_back(r.photo);
  });
  if (!st) return st.error();
  std::size_t done = 0;
  for (std::size_t b = 0; b < stale.size(); b += batch) {
    store::WriteBatch w;
    for (std::size_t i = b; i < std::min(stale.size(), b + batch); ++i) {
      store::Photo p = std::move(stale[i]);
      p.tags = {};
      const auto& view = p.head_embedding.empty() ? p.embedding : p.head_embedding;
      if (auto s = heads.tag(view, heads.model_id(), p.tags); !s) return s.error();
      w.photos.push_back(std::move(p));
    }
    // An existing photo row keeps its embedding and code; the write replaces only its tags.
    if (auto s = store.write(w); !s) return s.error();
    done += w.photos.size();
  }
  return done;
}

}  // namespace homelens::tags
