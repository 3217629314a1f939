#include <iostream>

#include "homelens/cli/commands.h"
#include "homelens/core/log.h"
#include "homelens/core/progress.h"
#include "homelens/model/model_spec.h"

namespace homelens::cli {

int& exit_code() {
  static int code = 0;
  return code;
}

void add_common_options(CLI::App& cmd, CommonOptions& o) {
  cmd.add_option("--db", o.db, "The table: a SQLite file (created if missing) or postgresql://... (a bare postgresql:// uses PGHOST etc.)")
      ->capture_default_str();
  cmd.add_option("--model", o.model, "Model spec: an id from models/ or a spec JSON file")
      ->capture_default_str();
  cmd.add_option("--models-dir", o.models_dir,
                 "Folder the spec's model files are relative to (default: $HOMELENS_MODELS or "
                 "../shared/models)");
  cmd.add_option("--backend", o.backend,
                 "Model runtime: onednn, opencv, or auto (oneDNN when it can run the model, else "
                 "OpenCV DNN); default: the spec's \"backend\", else auto")
      ->check(CLI::IsMember({"auto", "onednn", "opencv"}));
  cmd.add_option("--log-format", o.log_format,
                 "Log lines on stderr: text, or json (one object a line: time, level, message, fields)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  cmd.add_option("--log-level", o.log_level, "Least severe level logged")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warning", "error", "critical", "off"}));
  cmd.add_option("--progress-every", o.progress_every,
                 "Seconds between progress lines when stderr is not a terminal (a log)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  // Before the command runs, so its first error is already in the chosen format.
  cmd.parse_complete_callback([&o] {
    (void)log::configure_logging(o.log_format, o.log_level);
    set_progress_log_interval(o.progress_every);
  });
}

std::optional<model::ModelSpec> resolve_spec(const CommonOptions& o) {
  const std::string models_dir = o.models_dir.empty() ? model::default_models_dir() : o.models_dir;
  auto spec = model::find_model_spec(o.model, models_dir);
  if (!spec) {
    log::error(spec.message());
    return std::nullopt;
  }
  if (!o.backend.empty()) spec->backend = o.backend;
  return std::move(*spec);
}

void add_expansion_option(CLI::App& cmd, rank::QueryExpansion& e) {
  cmd.add_option(
         "--expand-outside", e.neighbours,
         "A query photo the tag heads find unlike house photos is compared by its vector plus "
         "its N nearest indexed photos' (weighted by cosine^3; 0: never)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
}

std::unique_ptr<engine::Engine> open_engine(const CommonOptions& o, const model::ModelSpec& spec,
                                            tags::Tagger tagger) {
  engine::EngineOptions eo;
  eo.db = o.db;
  eo.spec = spec;
  eo.tagger = std::move(tagger);
  eo.expand_outside = o.expand_outside;
  eo.refresh_seconds = 0;
  eo.ann = o.ann;
  eo.ann_dir = o.ann_dir;
  auto eng = engine::Engine::open(eo);
  if (!eng) {
    log::error(eng.message());
    return nullptr;
  }
  return std::move(*eng);
}

}  // namespace homelens::cli

int main(int argc, char** argv) {
  CLI::App app{"HomeLens: find homes that look alike, from their photos"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "homelens 0.1.0");
  homelens::cli::add_index_command(app);
  homelens::cli::add_similar_command(app);
  homelens::cli::add_serve_command(app);
  homelens::cli::add_train_command(app);
  homelens::cli::add_tag_command(app);
  homelens::cli::add_delete_command(app);
  homelens::cli::add_eval_command(app);
  homelens::cli::add_dupes_command(app);
  homelens::cli::add_import_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return homelens::cli::exit_code();
}
