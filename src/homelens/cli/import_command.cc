#include <csignal>
#include <iostream>

#include <nlohmann/json.hpp>

#include "homelens/cli/commands.h"
#include "homelens/core/log.h"
#include "homelens/feed/importer.h"

namespace homelens::cli {

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_import_signal(int) { g_stop = true; }

struct ImportArgs {
  CommonOptions common;
  feed::ImportOptions feed;
  std::string since;
  std::vector<std::string> active;
  double timeout = 30;
  bool json = false, quiet = false, strict = false;
};

int run_import(ImportArgs& a) {
  auto spec = resolve_spec(a.common);
  if (!spec) return 1;
  if (!a.since.empty()) a.feed.since = a.since == "all" ? std::string() : a.since;
  if (!a.active.empty()) a.feed.active_statuses = {a.active.begin(), a.active.end()};
  while (!a.feed.base_url.empty() && a.feed.base_url.back() == '/') a.feed.base_url.pop_back();
  a.feed.client.read_timeout_s = a.timeout;
  a.feed.progress = a.quiet || a.json ? ProgressMode::kQuiet : ProgressMode::kAuto;
  a.feed.stop = &g_stop;
  auto eng = open_engine(a.common, *spec);
  if (!eng) return 1;
  std::signal(SIGINT, on_import_signal);
  std::signal(SIGTERM, on_import_signal);
  auto r = feed::run_import(*eng, a.feed);
  if (!r) {
    log::error(r.message());
    return 1;
  }
  const auto& s = *r;
  if (a.json) {
    nlohmann::json j = {{"pages", s.pages}, {"seen", s.seen}, {"added", s.added}, {"changed", s.changed},
                        {"unchanged", s.unchanged}, {"removed", s.removed}, {"skipped", s.skipped},
                        {"photos_downloaded", s.photos_downloaded}, {"photos_failed", s.photos_failed},
                        {"photos_removed", s.photos_removed}, {"photos_unchanged", s.photos_unchanged},
                        {"since", s.since}, {"high_water", s.high_water}, {"media", s.media_access},
                        {"dry_run", s.dry_run}, {"interrupted", s.interrupted}, {"seconds", s.seconds},
                        {"db", a.common.db}};
    j["problems"] = nlohmann::json::array();
    for (const auto& p : s.problems) j["problems"].push_back({{"key", p.key}, {"reason", p.reason}});
    j["photos_reordered"] = s.photos_reordered;
    if (s.dry_run) {
      j["changes"] = nlohmann::json::array();
      for (const auto& c : s.changes)
        j["changes"].push_back({{"key", c.key}, {"action", c.action}, {"attributes", c.attributes},
                                {"photos_new", c.photos_new}, {"photos_removed", c.photos_removed},
                                {"photos_reordered", c.photos_reordered}});
    }
    std::cout << j.dump() << "\n";
  } else {
    for (const auto& c : s.changes) {
      std::cout << "would " << c.action << " " << c.key;
      if (c.action != "remove") {
        std::cout << ":" << (c.attributes ? " new attributes," : "") << " " << c.photos_new << " photos to download, "
                  << c.photos_removed << " to remove";
        if (c.photos_reordered) std::cout << ", " << c.photos_reordered << " reordered";
      }
      std::cout << "\n";
    }
    std::cout << (s.interrupted ? "interrupted: " : "") << (s.dry_run ? "dry run, would have: " : "") << s.seen
              << " listings seen: " << s.added << " added, " << s.changed << " changed, " << s.unchanged
              << " unchanged, " << s.removed << " removed, " << s.skipped << " skipped; photos: "
              << s.photos_downloaded << " downloaded, " << s.photos_failed << " failed, " << s.photos_removed
              << " removed, " << s.photos_reordered << " reordered, " << s.photos_unchanged << " unchanged";
    std::printf(" (%zu pages, %.1f s)\n", s.pages, s.seconds);
    if (!s.high_water.empty()) std::cout << "next import resumes after " << s.high_water << "\n";
  }
  if (s.interrupted) return 130;
  if (a.strict && (s.skipped || s.photos_failed)) return 2;
  return 0;
}

}  // namespace

void add_import_command(CLI::App& app) {
  CLI::App* imp = app.add_subcommand("import", "Import listings and photos from an MLS feed");
  imp->require_subcommand(1);
  auto a = std::make_shared<ImportArgs>();
  CLI::App* cmd = imp->add_subcommand("reso", "From a RESO Web API (OData 4) or saved response pages (docs/feed.md)");
  add_common_options(*cmd, a->common);
  auto* src = cmd->add_option_group("source", "Where the listings come from");
  src->add_option("--url", a->feed.base_url, "The Web API root: BASE/$metadata and BASE/Property are read");
  src->add_option("--file", a->feed.files, "A saved Property response page (repeatable)");
  src->require_option(1);
  cmd->add_option("--metadata", a->feed.metadata_file, "Read the $metadata EDMX from this file instead");
  cmd->add_option("--token", a->feed.client.token, "Bearer token");
  cmd->add_option("--token-file", a->feed.client.token_file, "File holding the bearer token (re-read on a 401)");
  cmd->add_option("--client-id", a->feed.client.client_id, "OAuth2 client id (client credentials grant)");
  cmd->add_option("--client-secret", a->feed.client.client_secret, "OAuth2 client secret");
  cmd->add_option("--token-url", a->feed.client.token_url, "OAuth2 token endpoint");
  cmd->add_option("--since", a->since,
                  "Import records modified after this timestamp instead of the stored mark ('all': everything)");
  cmd->add_option("--active", a->active,
                  "StandardStatus values that keep a listing (repeatable; default Active, ActiveUnderContract, "
                  "ComingSoon, Pending)");
  cmd->add_option("--concurrency", a->feed.concurrency, "Photo downloads at once")->capture_default_str();
  cmd->add_option("--page-size", a->feed.page_size, "$top of each request")->capture_default_str();
  cmd->add_option("--timeout", a->timeout, "Seconds to wait for a response")->capture_default_str();
  cmd->add_option("--retries", a->feed.client.retries, "Further tries after a 429, a 5xx or a network error")
      ->capture_default_str();
  cmd->add_option("--backoff", a->feed.client.backoff_s, "First wait before a retry, seconds (doubles)")
      ->capture_default_str();
  cmd->add_option("--rate-limit", a->feed.client.rate_limit, "Most requests per second (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--max-bytes", a->feed.client.max_bytes, "Largest photo or page accepted")->capture_default_str();
  cmd->add_flag("--dry-run", a->feed.dry_run, "Print what would change; write and download nothing");
  cmd->add_flag("--json", a->json, "Print the summary as one JSON object on stdout");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress output");
  cmd->add_flag("--strict", a->strict, "Exit with status 2 when a record or photo was skipped");
  cmd->callback([a] { exit_code() = run_import(*a); });
}

}  // namespace homelens::cli
