// The recommendation service: the HTTP API over one table, plus the web page.
// Queries run on an in-memory catalogue under a shared lock, so reads go on
// while a photo is being indexed; writes hit the store first, then the catalogue.
#pragma once

#include <memory>
#include <string>

#include "homelens/core/result.h"
#include "homelens/image/decode.h"
#include "homelens/model/model_spec.h"
#include "homelens/rank/recommender.h"
#include "homelens/tags/tagger.h"

namespace homelens::serve {

struct ServerConfig {
  std::string db = "homelens.db";
  model::ModelSpec spec;
  std::string host = "127.0.0.1";
  int port = 8080;              // 0 = any free port
  std::string api_key;          // when set, write routes need it (X-API-Key or Bearer)
  std::size_t max_body_bytes = 20u << 20;
  std::size_t max_k = 1000;
  std::size_t max_candidates = 100000;
  std::string web_dir;          // static files for "/" and /openapi.json
  rank::ScoreOptions scoring;   // defaults for requests that do not say
  tags::Tagger tagger;          // tags uploaded photos; may be empty
  int threads = 64;             // connections served at once (keep-alive holds a thread)
  image::DecodeOptions decode;
  bool quiet = false;
};

class Server {
 public:
  // Opens the store, loads the catalogue and the model. Errors name what failed.
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

// Reads a JSON config file (weights, tags, class_mode, api_key, limits) into cfg.
Status load_server_config(const std::string& path, ServerConfig& cfg);

}  // namespace homelens::serve
