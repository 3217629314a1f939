#include "homelens/eval/method.h"

#include <mutex>

#include "homelens/tags/features.h"

namespace homelens::eval {

namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::vector<MethodInfo>& registry() {
  static std::vector<MethodInfo> r;
  return r;
}

// Built-ins are registered on first use rather than by static initializers, which the linker
// drops from a static library when nothing else in their object file is referenced.
void ensure_builtins() {
  static std::once_flag once;
  std::call_once(once, [] { register_builtin_methods(); });
}

}  // namespace

void register_method(MethodInfo info) {
  std::lock_guard lock(registry_mutex());
  for (auto& m : registry()) {
    if (m.name == info.name) {
      m = std::move(info);
      return;
    }
  }
  registry().push_back(std::move(info));
}

std::vector<MethodInfo> methods() {
  ensure_builtins();
  std::lock_guard lock(registry_mutex());
  return registry();
}

Result<std::unique_ptr<Method>> make_method(const std::string& name, const MethodContext& ctx) {
  std::string known;
  for (const auto& m : methods()) {
    if (m.name == name) return m.make(ctx);
    known += known.empty() ? m.name : ", " + m.name;
  }
  return make_error("method " + name, "unknown (known: " + known + ")",
                    ErrorCode::kInvalidArgument);
}

Result<std::vector<std::vector<float>>> EmbeddingCache::get(const std::vector<std::string>& paths,
                                                           const MethodContext& ctx) {
  std::vector<std::string> todo;
  for (const auto& p : paths)
    if (!rows_.count(p)) todo.push_back(p);
  if (!todo.empty()) {
    tags::FeatureOptions fo;
    fo.db = ctx.db;
    fo.progress = ctx.progress;
    auto f = tags::embed_paths(todo, ctx.spec, fo);
    if (!f) return f.error();
    for (std::size_t i = 0; i < todo.size(); ++i) {
      const double* row = f->x.row(i);
      rows_[todo[i]] = std::vector<float>(row, row + f->x.cols);
    }
  }
  std::vector<std::vector<float>> out;
  out.reserve(paths.size());
  for (const auto& p : paths) out.push_back(rows_.at(p));
  return out;
}

}  // namespace homelens::eval
