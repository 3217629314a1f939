// Each command registers itself on the CLI app; main() only dispatches.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "homelens/engine/engine.h"
#include "homelens/model/model_spec.h"

namespace homelens::cli {

// The exit status a command's callback leaves for main() to return.
int& exit_code();

// Options every command shares: the table, the model, and how it logs.
struct CommonOptions {
  std::string db = "homelens.db";
  std::string model = model::kDefaultModelId;
  std::string models_dir;  // default: model::default_models_dir()
  std::string log_format = "text";  // text | json (core/log.h)
  std::string log_level = "info";
  double progress_every = 5;  // seconds between progress lines in a log
  std::string backend;  // overrides the spec's "backend" when set
  // The approximate index (engine.h); only commands that query register these.
  index::AnnOptions ann;
  std::string ann_dir;
  rank::QueryExpansion expand_outside;
};
// Registers the options on cmd; logging is configured as soon as cmd's arguments are parsed.
void add_common_options(CLI::App& cmd, CommonOptions& o);

// --expand-outside N: how many nearest photos expand a query photo outside the heads' domain.
void add_expansion_option(CLI::App& cmd, rank::QueryExpansion& e);

// The model spec the options name, or nullopt after printing the error to stderr.
std::optional<model::ModelSpec> resolve_spec(const CommonOptions& o);

// An engine on the options' table for one command run (no background refresh), tagging the
// photos it embeds with `tagger` (may be empty), or nullptr after logging why it could not be
// opened.
std::unique_ptr<engine::Engine> open_engine(const CommonOptions& o, const model::ModelSpec& spec,
                                            tags::Tagger tagger = {});

void add_index_command(CLI::App& app);
void add_similar_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_tag_command(CLI::App& app);
void add_delete_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_dupes_command(CLI::App& app);
void add_import_command(CLI::App& app);

}  // namespace homelens::cli
