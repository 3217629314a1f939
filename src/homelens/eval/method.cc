#include "homelens/eval/method.h"

#include <algorithm>
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
  std::call_once(once, [] {
    register_builtin_methods();
    register_collection_methods();
  });
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

std::string method_base_name(const std::string& name) { return name.substr(0, name.find(':')); }

Result<std::unique_ptr<Method>> make_method(const std::string& name, const MethodContext& ctx) {
  const std::string base = method_base_name(name);
  std::string known;
  for (const auto& m : methods()) {
    if (m.name == base) {
      if (base == name) return m.make(ctx);
      if (!m.takes_params)
        return make_error("method " + name, base + " takes no parameters",
                          ErrorCode::kInvalidArgument);
      MethodContext with = ctx;
      with.params = name.substr(base.size() + 1);
      return m.make(with);
    }
    known += known.empty() ? m.name : ", " + m.name;
  }
  return make_error("method " + name, "unknown (known: " + known + ")",
                    ErrorCode::kInvalidArgument);
}

Result<std::map<std::string, std::string>> parse_params(const std::string& params,
                                                        const std::vector<std::string>& known) {
  std::map<std::string, std::string> out;
  std::size_t at = 0;
  while (at < params.size()) {
    const std::size_t end = std::min(params.find(',', at), params.size());
    const std::string pair = params.substr(at, end - at);
    const std::size_t eq = pair.find('=');
    if (eq == std::string::npos)
      return make_error("parameter " + pair, "expected key=value", ErrorCode::kInvalidArgument);
    const std::string key = pair.substr(0, eq);
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      return make_error("parameter " + key, "unknown (known: " + list + ")",
                        ErrorCode::kInvalidArgument);
    }
    out[key] = pair.substr(eq + 1);
    at = end + 1;
  }
  return out;
}

Status EmbeddingCache::fill(const std::vector<std::string>& paths, const MethodContext& ctx) {
  std::vector<std::string> todo;
  for (const auto& p : paths)
    if (!rows_.count(p)) todo.push_back(p);
  if (todo.empty()) return {};
  tags::FeatureOptions fo;
  fo.db = ctx.db;
  fo.progress = ctx.progress;
  auto f = tags::embed_paths(todo, ctx.spec, fo);
  if (!f) return f.error();
  for (std::size_t i = 0; i < todo.size(); ++i) {
    const double* row = f->x.row(i);
    rows_[todo[i]] = std::vector<float>(row, row + f->x.cols);
    if (f->heads.rows == 0) continue;
    const double* h = f->heads.row(i);
    head_rows_[todo[i]] = std::vector<float>(h, h + f->heads.cols);
  }
  return {};
}

Result<std::vector<std::vector<float>>> EmbeddingCache::get(const std::vector<std::string>& paths,
                                                            const MethodContext& ctx) {
  if (auto st = fill(paths, ctx); !st) return st.error();
  std::vector<std::vector<float>> out;
  out.reserve(paths.size());
  for (const auto& p : paths) out.push_back(rows_.at(p));
  return out;
}

Result<std::vector<std::vector<float>>> EmbeddingCache::get_heads(
    const std::vector<std::string>& paths, const MethodContext& ctx) {
  if (auto st = fill(paths, ctx); !st) return st.error();
  std::vector<std::vector<float>> out;
  out.reserve(paths.size());
  for (const auto& p : paths) {
    auto it = head_rows_.find(p);
    out.push_back(it != head_rows_.end() ? it->second : rows_.at(p));
  }
  return out;
}

}  // namespace homelens::eval
