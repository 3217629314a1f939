// The recommendation service: the HTTP API and the web page over one engine. The
// server only maps HTTP to engine calls and back (request_decode.h, response_json.h),
// with limits and auth in front (guard.h) and errors from one table (errors.h).
//
// Thread-safety: start/run/stop from one controlling thread; requests are served
// on httplib's thread pool, all of them through the thread-safe engine.
#pragma once

#include <memory>
#include <string>

#include "homelens/core/result.h"
#include "homelens/engine/engine.h"
#include "homelens/rank/recommender.h"

namespace homelens::serve {

struct ServerConfig {
  engine::EngineOptions engine;  // table, model, tagger, refresh interval
  std::string host = "127.0.0.1";
  int port = 8080;              // 0 = any free port
  std::string api_key;          // when set, write routes need it (X-API-Key or Bearer)
  // A server reachable from other machines with no API key would let anyone
  // write; it refuses to start unless this says so.
  bool allow_open_writes = false;
  std::size_t max_body_bytes = 20u << 20;
  std::size_t max_k = 1000;
  std::size_t max_candidates = 100000;
  std::string web_dir;          // static files for "/" and /openapi.json
  rank::ScoreOptions scoring;   // defaults for requests that do not say
  int threads = 64;             // connections served at once (keep-alive holds a thread)
  bool quiet = false;
};

class Server {
 public:
  // Opens the engine (store, catalogue, model). Errors name what failed; a
  // non-loopback host without an API key is refused unless allow_open_writes.
  static Result<std::unique_ptr<Server>> create(const ServerConfig& config);
  ~Server();

  // Binds host:port (port 0 picks one) and serves on a background thread; returns the port.
  Result<int> start();
  // Serves until stop() (from a signal handler thread or another thread).
  Status run();
  void stop();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads a JSON config file (weights, tags, class_mode, tags_need_fronts, api_key, limits) into cfg.
Status load_server_config(const std::string& path, ServerConfig& cfg);

}  // namespace homelens::serve
