#include "homelens/serve/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "homelens/eval/dupes.h"
#include "homelens/serve/errors.h"
#include "homelens/serve/guard.h"
#include "homelens/serve/metrics.h"
#include "homelens/serve/request_decode.h"
#include "homelens/serve/response_json.h"

namespace homelens::serve {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using R = const httplib::Request&;
using W = httplib::Response&;

// Unwraps an engine result, or throws the error as the API reports it.
template <class T>
T take(Result<T> r) {
  if (!r) throw api_error(r.error());
  return std::move(*r);
}
void check(const Status& st) {
  if (!st) throw api_error(st.error());
}

// Runs a handler body, turning ApiError and other exceptions into JSON errors.
template <class Body>
void guarded(W res, const Body& body) {
  try {
    body();
    if (res.status == -1) res.status = 200;  // httplib sets it only after we return
  } catch (const ApiError& e) {
    send_error(res, e);
  } catch (const std::exception& e) {
    send_error(res, {500, "internal", e.what()});
  }
}

}  // namespace

struct Server::Impl {
  ServerConfig cfg;
  RequestDefaults defaults;
  std::unique_ptr<engine::Engine> engine;
  Metrics metrics;
  httplib::Server http;
  std::thread thread;
  std::atomic<bool> running{false};
  int listen_fd = -1;  // the listening socket, seen in httplib's socket-options hook

  // Wraps a handler: JSON errors for ApiError/exceptions, metrics per route.
  httplib::Server::Handler route(const std::string& name, std::function<void(R, W)> fn) {
    return [this, name, fn](R req, W res) {
      const auto t0 = Clock::now();
      guarded(res, [&] { fn(req, res); });
      metrics.observe(name, req.method, res.status, std::chrono::duration<double>(Clock::now() - t0).count());
    };
  }

  // As route, for requests with a body, read within the size limit (guard.h).
  httplib::Server::HandlerWithContentReader route_with_body(const std::string& name, std::function<void(R, W)> fn) {
    return [this, name, fn](R req, W res, const httplib::ContentReader& reader) {
      const auto t0 = Clock::now();
      guarded(res, [&] { fn(read_body_limited(req, reader, cfg.max_body_bytes), res); });
      metrics.observe(name, req.method, res.status, std::chrono::duration<double>(Clock::now() - t0).count());
    };
  }

  void handle_recommend(R req, W res) {
    const auto t0 = Clock::now();
    RecommendCall call = decode_recommend(req, read_upload(req, false), defaults);
    const std::string upload_name = call.query.filename;
    const rank::Weights weights = call.request.scoring.weights;
    engine::RecommendAnswer answer = take(engine->recommend(call.query, std::move(call.request)));
    res.set_content(recommend_json(answer, upload_name, weights,
                                   std::chrono::duration<double, std::milli>(Clock::now() - t0).count()),
                    "application/json");
  }

  void handle_list_listings(R req, W res) {
    const ListCall call = decode_list(req);
    const engine::ListingPage page = take(engine->list_listings(call.filters, call.offset, call.limit));
    json out = {{"total", page.total}, {"offset", call.offset}, {"limit", call.limit}, {"listings", json::array()}};
    for (const auto& l : page.listings) out["listings"].push_back(listing_json(l, false));
    res.set_content(dump(out), "application/json");
  }

  void handle_get_listing(R req, W res) {
    res.set_content(dump(listing_json(take(engine->get_listing(req.matches[1])), true)), "application/json");
  }

  void handle_get_image(R req, W res) {
    res.set_content(dump(image_json(take(engine->get_image(parse_image_id(req.matches[1]))))), "application/json");
  }

  void handle_image_content(R req, W res) {
    auto content = engine->image_content(parse_image_id(req.matches[1]));
    // The image is indexed but its bytes can no longer be read (file moved or deleted).
    if (!content && content.code() == ErrorCode::kIO) throw ApiError{410, "gone", content.message()};
    engine::ImageContent c = take(std::move(content));
    // The bytes of an image can change (its source re-indexed), so caches keep them
    // only as long as their hash matches: revalidate with the ETag, get 304 when equal.
    const std::string etag = "\"" + c.sha256 + "\"";
    res.set_header("ETag", etag);
    res.set_header("Cache-Control", "public, no-cache");
    const std::string inm = req.get_header_value("If-None-Match");
    if (!inm.empty() && (inm == "*" || inm.find(etag) != std::string::npos)) {
      res.status = 304;
      return;
    }
    res.set_content(std::move(c.bytes), c.content_type);
  }

  // Photos of other listings that are the same picture (eval/dupes.h); a scan of the stored
  // codes, so its cost grows with the table, like `homelens dupes`.
  void handle_image_duplicates(R req, W res) {
    const std::int64_t id = parse_image_id(req.matches[1]);
    int threshold = eval::kDefaultDupeThreshold;
    if (req.has_param("threshold")) {
      const std::string t = req.get_param_value("threshold");
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), threshold);
      if (ec != std::errc() || p != t.data() + t.size() || threshold < 0)
        throw ApiError(bad_request("threshold must be a non-negative integer, got \"" + t + "\""));
    }
    const auto dupes = take(eval::duplicates_of(engine->store(), engine->spec().id, id, threshold));
    json list = json::array();
    for (const auto& d : dupes)
      list.push_back({{"image_id", d.image_id}, {"listing_id", d.listing_id}, {"distance", d.distance}});
    res.set_content(dump(json{{"image_id", id}, {"threshold", threshold}, {"duplicates", list}}),
                    "application/json");
  }

  void handle_post_image(R req, W res) {
    require_api_key(req, cfg.api_key);
    const engine::AddImageResult r = take(engine->add_image(decode_add_image(req, read_upload(req, true))));
    res.status = r.created ? 201 : 200;
    res.set_content(dump(add_image_json(r)), "application/json");
  }

  void handle_delete_image(R req, W res) {
    require_api_key(req, cfg.api_key);
    check(engine->remove_image(parse_image_id(req.matches[1])));
    res.status = 204;
  }

  void handle_delete_listing(R req, W res) {
    require_api_key(req, cfg.api_key);
    check(engine->remove_listing(req.matches[1]));
    res.status = 204;
  }

  void handle_health(R, W res) {
    const engine::EngineStats s = take(engine->stats());
    res.set_content(json{{"status", "ok"}, {"model", engine->spec().id}, {"images", s.images},
                         {"listings", s.listings}, {"tags", s.tags}, {"change_seq", s.change_seq}}
                        .dump(),
                    "application/json");
  }

  void handle_metrics(R, W res) {
    const engine::EngineStats s = take(engine->stats());
    std::map<std::string, double> gauges;
    gauges["homelens_index_images"] = static_cast<double>(s.images);
    gauges["homelens_index_listings"] = static_cast<double>(s.listings);
    gauges["homelens_index_vector_bytes"] = static_cast<double>(s.images * s.dim * sizeof(float));
    gauges["homelens_change_seq"] = static_cast<double>(s.change_seq);
    gauges["homelens_refreshes"] = static_cast<double>(s.refreshes);
    gauges["homelens_ann_active"] = s.ann ? 1.0 : 0.0;
    gauges["homelens_ann_builds"] = static_cast<double>(s.ann_builds);
    gauges["homelens_ann_loads"] = static_cast<double>(s.ann_loads);
    gauges["homelens_ann_recommends"] = static_cast<double>(s.ann_recommends);
    res.set_content(metrics.render(gauges), "text/plain; version=0.0.4");
  }

  void handle_openapi(R, W res) {
    std::ifstream in(std::filesystem::path(cfg.web_dir) / "openapi.json");
    if (!in) throw ApiError(not_found("openapi.json is not in " + cfg.web_dir));
    std::stringstream ss;
    ss << in.rdbuf();
    res.set_content(ss.str(), "application/json");
  }

  void install_routes() {
    http.new_task_queue = [n = cfg.threads] { return new httplib::ThreadPool(static_cast<std::size_t>(n)); };
    http.set_payload_max_length(cfg.max_body_bytes);
    // A keep-alive connection holds a worker thread until it has made this many
    // requests; then it reconnects and queues behind the others (FIFO).
    http.set_keep_alive_max_count(1000);
    // Without it a keep-alive answer (headers, then body) waits ~40 ms on Nagle + delayed ACK.
    http.set_tcp_nodelay(true);
    http.set_read_timeout(10, 0);
    // httplib's socket-options hook sees the listening socket before it listens:
    // keep its descriptor so start() can raise the backlog (below).
    http.set_socket_options([this](socket_t fd) {
      httplib::default_socket_options(fd);
      listen_fd = fd;
    });
    // httplib's own refusals (413, 404 of unknown paths, 400) get JSON bodies too.
    http.set_error_handler([](R req, W res) {
      if (!res.body.empty() || res.status == 304) return;
      std::string code = res.status == 404 ? "not_found" : res.status == 413 ? "payload_too_large" : "error";
      std::string msg = res.status == 404   ? "no route " + req.method + " " + req.path
                        : res.status == 413 ? "the request body is over the size limit"
                                            : "request refused";
      send_error(res, {res.status, code, msg});
    });
    http.set_exception_handler([](R, W res, std::exception_ptr ep) {
      std::string what = "unexpected error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      send_error(res, {500, "internal", what});
    });
    http.Post("/v1/recommend", route_with_body("/v1/recommend", [this](R q, W s) { handle_recommend(q, s); }));
    http.Get("/v1/listings", route("/v1/listings", [this](R q, W s) { handle_list_listings(q, s); }));
    http.Get(R"(/v1/listings/([^/]+))", route("/v1/listings/{id}", [this](R q, W s) { handle_get_listing(q, s); }));
    http.Delete(R"(/v1/listings/([^/]+))", route("/v1/listings/{id}", [this](R q, W s) { handle_delete_listing(q, s); }));
    http.Post("/v1/images", route_with_body("/v1/images", [this](R q, W s) { handle_post_image(q, s); }));
    http.Get(R"(/v1/images/([^/]+))", route("/v1/images/{id}", [this](R q, W s) { handle_get_image(q, s); }));
    http.Delete(R"(/v1/images/([^/]+))", route("/v1/images/{id}", [this](R q, W s) { handle_delete_image(q, s); }));
    http.Get(R"(/v1/images/([^/]+)/content)", route("/v1/images/{id}/content", [this](R q, W s) { handle_image_content(q, s); }));
    http.Get(R"(/v1/images/([^/]+)/duplicates)", route("/v1/images/{id}/duplicates", [this](R q, W s) { handle_image_duplicates(q, s); }));
    http.Get("/healthz", route("/healthz", [this](R q, W s) { handle_health(q, s); }));
    http.Get("/metrics", route("/metrics", [this](R q, W s) { handle_metrics(q, s); }));
    http.Get("/openapi.json", route("/openapi.json", [this](R q, W s) { handle_openapi(q, s); }));
    if (!cfg.web_dir.empty()) http.set_mount_point("/", cfg.web_dir);
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { stop(); }

Result<std::unique_ptr<Server>> Server::create(const ServerConfig& config) {
  if (config.api_key.empty() && !config.allow_open_writes && !is_loopback_host(config.host))
    return make_error(config.host,
                      "refusing to serve a non-loopback address without an API key: anyone who can "
                      "reach it could add and delete photos (set --api-key, or --allow-open-writes)",
                      ErrorCode::kInvalidArgument);
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  impl->defaults = {config.scoring, config.max_k, config.max_candidates};
  auto engine = engine::Engine::open(config.engine);
  if (!engine) return engine.error();
  impl->engine = std::move(*engine);
  if (auto st = impl->engine->load(); !st) return st.error();
  impl->install_routes();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Result<int> Server::start() {
  int port = impl_->cfg.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(impl_->cfg.host);
  } else if (!impl_->http.bind_to_port(impl_->cfg.host, port)) {
    port = -1;
  }
  if (port < 0)
    return make_error(impl_->cfg.host + ":" + std::to_string(impl_->cfg.port), "cannot listen (address in use?)",
                      ErrorCode::kUnavailable);
  // Debian's cpp-httplib 0.11 is a compiled library built with CPPHTTPLIB_LISTEN_BACKLOG
  // 5, so defining the macro here changes nothing: a burst of new connections (64
  // clients at once) overflows it and the kernel drops SYNs that clients retry only
  // after 1-3 s. Listening again on the socket httplib reported raises the backlog.
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, SOMAXCONN);
  impl_->running = true;
  impl_->thread = std::thread([this] { impl_->http.listen_after_bind(); });
  while (!impl_->http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return port;
}

Status Server::run() {
  if (!impl_->running) {
    auto p = start();
    if (!p) return p.error();
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  return {};
}

void Server::stop() {
  if (!impl_) return;
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->running = false;
}

Status load_server_config(const std::string& path, ServerConfig& cfg) {
  std::ifstream in(path);
  if (!in) return make_error(path, "cannot open config file", ErrorCode::kIO);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(path, "not a JSON object", ErrorCode::kInvalidArgument);
  try {
    if (j.contains("weights")) {
      const json& w = j["weights"];
      cfg.scoring.weights.cls = w.value("class", cfg.scoring.weights.cls);
      cfg.scoring.weights.tag = w.value("tag", cfg.scoring.weights.tag);
      cfg.scoring.weights.visual = w.value("visual", cfg.scoring.weights.visual);
    }
    if (j.contains("tags")) cfg.scoring.tags = j["tags"].get<std::vector<std::string>>();
    if (j.contains("class_mode")) cfg.scoring.soft_class = j["class_mode"].get<std::string>() == "soft";
    cfg.scoring.tags_need_fronts = j.value("tags_need_fronts", cfg.scoring.tags_need_fronts);
    cfg.scoring.front_threshold = j.value("front_threshold", cfg.scoring.front_threshold);
    cfg.api_key = j.value("api_key", cfg.api_key);
    cfg.max_body_bytes = j.value("max_body_bytes", cfg.max_body_bytes);
    cfg.max_k = j.value("max_k", cfg.max_k);
    cfg.max_candidates = j.value("max_candidates", cfg.max_candidates);
    cfg.threads = j.value("threads", cfg.threads);
    cfg.engine.refresh_seconds = j.value("refresh_seconds", cfg.engine.refresh_seconds);
    cfg.engine.embedders = j.value("embedders", cfg.engine.embedders);
    cfg.engine.wide_when_idle = j.value("wide_when_idle", cfg.engine.wide_when_idle);
    cfg.engine.index = j.value("index", cfg.engine.index);
    cfg.engine.ann.min_rows = j.value("ann_min_rows", cfg.engine.ann.min_rows);
    cfg.engine.ann.recommend_depth = j.value("ann_recommend_depth", cfg.engine.ann.recommend_depth);
    cfg.engine.ann_dir = j.value("ann_dir", cfg.engine.ann_dir);
    cfg.engine.decode_budget_bytes = j.value("decode_budget_bytes", cfg.engine.decode_budget_bytes);
  } catch (const std::exception& e) {
    return make_error(path, std::string("bad field: ") + e.what(), ErrorCode::kInvalidArgument);
  }
  return {};
}

}  // namespace homelens::serve
