// Options and method set-up the `eval` subcommands share.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "homelens/cli/commands.h"
#include "homelens/eval/method.h"

namespace homelens::cli {

struct EvalOptions {
  CommonOptions common;
  std::vector<std::string> methods;  // empty = the subcommand's defaults
  std::string heads;
  std::vector<double> final_weights;  // class, tag, visual; empty = the service's defaults
  std::optional<bool> final_tags_need_fronts;  // unset = the service's default
  bool quiet = false;
  bool db_given = false;  // --db given: its stored embeddings stand in for embedding
};

// Registers --method, --heads, --quiet and the common options on cmd.
void add_eval_options(CLI::App& cmd, EvalOptions& o);

using NamedMethods = std::vector<std::pair<std::string, std::unique_ptr<eval::Method>>>;

// The methods o names (or `defaults`), sharing one embedding cache; nullopt after logging why
// (an unknown method, a model or heads that cannot be loaded).
std::optional<NamedMethods> make_methods(const EvalOptions& o, const std::vector<std::string>& defaults);

// `homelens eval dupes` (dupes_command.cc).
void add_eval_dupes_command(CLI::App& eval);

}  // namespace homelens::cli
