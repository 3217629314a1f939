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
  serve::ServerConfig cfg;
  std::string config_file;
  std::string heads_dir;
  bool no_heads = false;
};

serve::Server* g_server = nullptr;
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop = true; }

int run_serve(ServeArgs& a) {
  auto spec = resolve_spec(a.common);
  if (!spec) return 1;
  serve::ServerConfig cfg = a.cfg;
  if (!a.config_file.empty())
    if (auto st = serve::load_server_config(a.config_file, cfg); !st) {
      log::error(st.message());
      return 1;
    }
  // Flags given on the command line win over the config file.
  if (!a.cfg.api_key.empty()) cfg.api_key = a.cfg.api_key;
  if (cfg.api_key.empty())
    if (const char* k = std::getenv("HOMELENS_API_KEY")) cfg.api_key = k;
  cfg.spec = *spec;
  cfg.db = a.common.db;
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
      cfg.tagger = tags::make_tagger(*heads);
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
  g_server = server->get();
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::cout << "HomeLens serving " << cfg.db << " on http://" << cfg.host << ":" << *port << "/"
            << (cfg.api_key.empty() ? "" : " (write routes need the API key)") << std::endl;
  // Stop from this thread: httplib's stop() is not async-signal-safe.
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  (*server)->stop();
  g_server = nullptr;
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  a->cfg.web_dir = HOMELENS_DEFAULT_WEB_DIR;
  CLI::App* cmd = app.add_subcommand("serve", "Serve recommendations over HTTP, with the web page at /");
  add_common_options(*cmd, a->common);
  cmd->add_option("--host", a->cfg.host, "Address to bind (loopback unless told otherwise)")->capture_default_str();
  cmd->add_option("--port", a->cfg.port, "Port (0 picks a free one)")->capture_default_str();
  cmd->add_option("--config", a->config_file, "JSON config: weights, tags, class_mode, api_key, limits");
  cmd->add_option("--api-key", a->cfg.api_key, "Key the write routes require (also $HOMELENS_API_KEY)");
  cmd->add_option("--web-dir", a->cfg.web_dir, "Folder of the web page's static files")->capture_default_str();
  cmd->add_option("--max-body", a->cfg.max_body_bytes, "Largest request body in bytes")->capture_default_str();
  cmd->add_option("--threads", a->cfg.threads, "Connections served at once")->capture_default_str();
  cmd->add_option("--heads", a->heads_dir, "Tag uploaded photos with the heads in DIR (default: heads/ when present)");
  cmd->add_flag("--no-heads", a->no_heads, "Do not tag uploaded photos");
  cmd->callback([a] { exit_code() = run_serve(*a); });
}

}  // namespace homelens::cli
