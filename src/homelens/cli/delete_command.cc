#include <iostream>

#include <nlohmann/json.hpp>

#include "homelens/cli/commands.h"
#include "homelens/core/log.h"
#include "homelens/engine/engine.h"

namespace homelens::cli {

namespace {

struct DeleteArgs {
  CommonOptions common;
  std::vector<std::string> listings;
  std::vector<std::int64_t> images;
  bool json = false, missing_ok = false;
};

int run_delete(const DeleteArgs& a) {
  auto spec = resolve_spec(a.common);
  if (!spec) return 1;
  auto eng = open_engine(a.common, *spec);
  if (!eng) return 1;
  nlohmann::json out = {{"deleted_listings", nlohmann::json::array()},
                        {"deleted_images", nlohmann::json::array()},
                        {"missing", nlohmann::json::array()}};
  int status = 0;
  // Each delete is its own transaction: one that fails leaves the others done.
  auto report = [&](const Status& st, const nlohmann::json& what, const char* list) {
    if (st) {
      out[list].push_back(what);
    } else if (st.code() == ErrorCode::kNotFound) {
      out["missing"].push_back(what);
      if (!a.missing_ok) status = 2;
      if (!a.json) log::warn("not found: " + st.message());
    } else {
      log::error(st.message());
      status = 1;
    }
  };
  for (const std::string& id : a.listings) report(eng->remove_listing(id), id, "deleted_listings");
  for (std::int64_t id : a.images) report(eng->remove_image(id), id, "deleted_images");
  if (a.json) std::cout << out.dump() << "\n";
  else
    std::cout << "deleted " << out["deleted_listings"].size() << " listings and "
              << out["deleted_images"].size() << " images\n";
  return status;
}

}  // namespace

void add_delete_command(CLI::App& app) {
  auto a = std::make_shared<DeleteArgs>();
  CLI::App* cmd = app.add_subcommand(
      "delete", "Remove listings (with their photos) or single images from the table; running servers see it within seconds");
  add_common_options(*cmd, a->common);
  auto* what = cmd->add_option_group("what", "What to remove");
  what->add_option("--listing", a->listings, "A listing id (repeatable)");
  what->add_option("--image", a->images, "An image id (repeatable)");
  what->require_option(1, 2);
  cmd->add_flag("--missing-ok", a->missing_ok, "Exit 0 even when an id is not in the table");
  cmd->add_flag("--json", a->json, "Print what was deleted as JSON");
  cmd->callback([a] { exit_code() = run_delete(*a); });
}

}  // namespace homelens::cli
