#include "homelens/cli/eval_common.h"

#include "homelens/core/log.h"

namespace homelens::cli {

void add_eval_options(CLI::App& cmd, EvalOptions& o) {
  add_common_options(cmd, o.common);
  // Here the table is only a cache of embeddings, read when given.
  cmd.get_option("--db")->description(
      "An index whose stored embeddings stand in for embedding photos with the same bytes "
      "(optional; read only when given)");
  std::string names;
  for (const auto& m : eval::methods()) names += "\n  " + m.name + ": " + m.help;
  cmd.add_option("--method", o.methods, "A method to measure (repeatable); known:" + names);
  cmd.add_option("--heads", o.heads,
                 "Folder of the tag heads and projection.json (final and projected methods; "
                 "default: the repository's heads/)");
  cmd.add_option("--final-weights", o.final_weights,
                 "Class, tag and visual weights of the final methods, e.g. 1,0.3,1 (the "
                 "service's defaults)")
      ->delimiter(',')
      ->expected(3);
  cmd.add_option("--final-tags-need-fronts", o.final_tags_need_fronts,
                 "true: the final methods count equal tags only between house fronts (tag "
                 "weighted by the class part); false: between any photos (default: the "
                 "service's)");
  cmd.add_flag("--quiet", o.quiet, "No progress output");
  cmd.parse_complete_callback([&o, &cmd] {
    (void)log::configure_logging(o.common.log_format, o.common.log_level);
    o.db_given = cmd.count("--db") > 0;
  });
}

std::optional<NamedMethods> make_methods(const EvalOptions& o, const std::vector<std::string>& defaults) {
  const auto& names = o.methods.empty() ? defaults : o.methods;
  bool needs_model = false;
  for (const auto& m : eval::methods())
    for (const auto& n : names) needs_model |= m.name == eval::method_base_name(n) && m.needs_model;
  eval::MethodContext ctx;
  if (needs_model) {
    auto spec = resolve_spec(o.common);
    if (!spec) return std::nullopt;
    ctx.spec = std::move(*spec);
  }
  ctx.heads_dir = o.heads;
  if (!o.final_weights.empty())
    ctx.final_scoring.weights = {o.final_weights[0], o.final_weights[1], o.final_weights[2]};
  if (o.final_tags_need_fronts) ctx.final_scoring.tags_need_fronts = *o.final_tags_need_fronts;
  if (o.db_given) ctx.db = o.common.db;
  ctx.progress = o.quiet ? ProgressMode::kQuiet : ProgressMode::kAuto;
  ctx.cache = std::make_shared<eval::EmbeddingCache>();
  NamedMethods out;
  for (const auto& n : names) {
    auto m = eval::make_method(n, ctx);
    if (!m) {
      log::error(m.message());
      return std::nullopt;
    }
    out.emplace_back(n, std::move(*m));
  }
  return out;
}

}  // namespace homelens::cli
