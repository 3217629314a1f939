#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "homelens/cli/commands.h"
#include "homelens/core/log.h"
#include "homelens/serve/server.h"
#include "homelens/tags/tagger.h"

namespace homelens::cli {

namespace {

struct ServeArgs {
  CommonOptions common;
  serve::ServerConfig flags;  // values of the flags; only those given override the config file
  std::string config_file;
  std::string heads_dir;
  bool no_heads = false;
};

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop = true; }

int run_serve(ServeArgs& a, const CLI::App& cmd) {
  auto spec = resolve_spec(a.common);
  if (!spec) return 1;
  serve::ServerConfig cfg = a.flags;
  if (!a.config_file.empty()) {
    cfg = serve::ServerConfig{};
    cfg.web_dir = a.flags.web_dir;
    if (auto st = serve::load_server_config(a.config_file, cfg); !st) {
      log::error(st.message());
      return 1;
    }
    // Flags given on the command line win over the config file.
    auto given = [&](const char* flag) { return cmd.count(flag) > 0; };
    if (given("--host")) cfg.host = a.flags.host;
    if (given("--port")) cfg.port = a.flags.port;
    if (given("--api-key")) cfg.api_key = a.flags.api_key;
    if (given("--web-dir")) cfg.web_dir = a.flags.web_dir;
    if (given("--max-body")) cfg.max_body_bytes = a.flags.max_body_bytes;
    if (given("--threads")) cfg.threads = a.flags.threads;
    if (given("--refresh-seconds")) cfg.engine.refresh_seconds = a.flags.engine.refresh_seconds;
    if (given("--embedders")) cfg.engine.embedders = a.flags.engine.embedders;
    if (given("--index")) cfg.engine.index = a.flags.engine.index;
    if (given("--ann-min")) cfg.engine.ann.min_rows = a.flags.engine.ann.min_rows;
    if (given("--ann-recommend-depth")) cfg.engine.ann.recommend_depth = a.flags.engine.ann.recommend_depth;
    if (given("--ann-dir")) cfg.engine.ann_dir = a.flags.engine.ann_dir;
    if (given("--expand-outside")) cfg.engine.expand_outside = a.flags.engine.expand_outside;
    if (given("--decode-budget")) cfg.engine.decode_budget_bytes = a.flags.engine.decode_budget_bytes;
    if (given("--allow-open-writes")) cfg.allow_open_writes = true;
  }
  if (cfg.api_key.empty())
    if (const char* k = std::getenv("HOMELENS_API_KEY")) cfg.api_key = k;
  cfg.engine.spec = *spec;
  cfg.engine.db = a.common.db;
  // Uploaded photos get the same tags as indexed ones, from the same heads.
  if (!a.no_heads) {
    auto heads = tags::load_heads_option(a.heads_dir, *spec);
    if (!heads) {
      log::error(heads.message());
      return 1;
    }
    if ((*heads)->empty())
      log::info("no tag heads for " + spec->id + " in " + tags::default_heads_dir() +
                ": uploads are not tagged (train them with scripts/setup)");
    else
      cfg.engine.tagger = tags::make_tagger(*heads);
  }
  auto server = serve::Server::create(cfg);
  if (!server) {
    log::error(server.message());
    return 1;
  }
  auto port = (*server)->start();
  if (!port) {
    log::error(port.message());
    return 1;
  }
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::cout << "HomeLens serving " << cfg.engine.db << " on http://" << cfg.host << ":" << *port << "/"
            << (cfg.api_key.empty() ? "" : " (write routes need the API key)") << std::endl;
  // Stop from this thread: httplib's stop() is not async-signal-safe.
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*server)->stop();
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  a->flags.web_dir = HOMELENS_DEFAULT_WEB_DIR;
  CLI::App* cmd = app.add_subcommand("serve", "Serve recommendations over HTTP, with the web page at /");
  add_common_options(*cmd, a->common);
  cmd->add_option("--host", a->flags.host, "Address to bind (loopback unless told otherwise)")->capture_default_str();
  cmd->add_option("--port", a->flags.port, "Port (0 picks a free one)")->capture_default_str();
  cmd->add_option("--config", a->config_file,
                  "JSON config: weights, tags, class_mode, tags_need_fronts, api_key, limits (flags given here win over it)");
  cmd->add_option("--api-key", a->flags.api_key, "Key the write routes require (also $HOMELENS_API_KEY)");
  cmd->add_flag("--allow-open-writes", a->flags.allow_open_writes,
                "Serve a non-loopback address without an API key (anyone reaching it can write)");
  cmd->add_option("--web-dir", a->flags.web_dir, "Folder of the web page's static files")->capture_default_str();
  cmd->add_option("--max-body", a->flags.max_body_bytes, "Largest request body in bytes")->capture_default_str();
  cmd->add_option("--threads", a->flags.threads, "Connections served at once")->capture_default_str();
  cmd->add_option("--refresh-seconds", a->flags.engine.refresh_seconds,
                  "How often to pick up what other processes wrote to the table (0: never)")
      ->capture_default_str()->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--index", a->flags.engine.index,
                  "Vector index: Flat, Refine(HalfFlat) or Refine(SQ8Flat) (default: Refine(SQ8Flat) with AVX2 and F16C, else Flat)");
  cmd->add_option("--ann-min", a->flags.engine.ann.min_rows,
                  "Answer whole-index queries (similar, recommend without candidates) with the approximate FAISS index from this many photos (0: never)")
      ->capture_default_str();
  cmd->add_option("--ann-recommend-depth", a->flags.engine.ann.recommend_depth,
                  "Nearest photos a whole-index recommend takes from the approximate index before filtering and exact scoring (0: scan exactly)")
      ->capture_default_str();
  cmd->add_option("--ann-dir", a->flags.engine.ann_dir,
                  "Folder for the approximate index's file (default: beside a SQLite table; none for PostgreSQL)");
  add_expansion_option(*cmd, a->flags.engine.expand_outside);
  cmd->add_option("--decode-budget", a->flags.engine.decode_budget_bytes,
                  "Bytes that uploads being decoded may hold at once; beyond it uploads get 503")
      ->capture_default_str();
  cmd->add_option("--embedders", a->flags.engine.embedders, "Networks embedding uploaded photos at once")
      ->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--heads", a->heads_dir, "Tag uploaded photos with the heads in DIR (default: heads/ when present)");
  cmd->add_flag("--no-heads", a->no_heads, "Do not tag uploaded photos");
  cmd->callback([a, cmd] { exit_code() = run_serve(*a, *cmd); });
}

}  // namespace homelens::cli
