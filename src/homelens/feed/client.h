// HTTP for a RESO Web API: bearer or OAuth2 client-credentials auth, timeouts, retries with
// backoff on 429 and 5xx (honouring Retry-After), a shared request rate limit and a size
// limit on what is downloaded.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

#include "homelens/core/result.h"

namespace homelens::feed {

struct ClientOptions {
  std::string token;          // a bearer token, or
  std::string token_file;     // a file holding one (re-read on a 401)
  std::string client_id, client_secret, token_url;  // OAuth2 client credentials
  double connect_timeout_s = 10, read_timeout_s = 30;
  int retries = 4;                  // further tries after a 429, a 5xx or a network error
  double backoff_s = 0.5;           // first wait; doubles each try (Retry-After wins when given)
  double max_backoff_s = 60;
  double rate_limit = 0;            // requests per second over all threads; 0 = unlimited
  std::size_t max_bytes = 32u << 20;  // largest body accepted
};

struct Response {
  int status = 0;
  std::string body;
  std::string content_type;
};

// Thread-safe: photo downloads call get() from several threads.
class Client {
 public:
  explicit Client(ClientOptions options) : o_(std::move(options)) {}

  // GETs an absolute http(s) URL. Returns the 2xx/3xx-resolved response, or an error naming
  // the URL: kUnavailable after the retries are spent (429, 5xx, timeouts, refused
  // connections), kInvalidArgument for another 4xx, kIO for a body over max_bytes or cut
  // short. A 401 gets one token refresh (when a token can be obtained again), then an error.
  Result<Response> get(const std::string& url, bool with_auth = true,
                       const std::string& accept = "application/json");

  std::size_t requests() const { return requests_; }

 private:
  Result<std::string> token(bool refresh);
  Result<std::string> fetch_oauth_token();
  void pace();

  ClientOptions o_;
  std::mutex mu_;  // token and pacing
  std::string token_;
  bool token_loaded_ = false;
  std::chrono::steady_clock::time_point next_slot_{};
  std::size_t requests_ = 0;
};

// Splits "https://host:8443/path?q" into "https://host:8443" and "/path?q".
Result<std::pair<std::string, std::string>> split_url(const std::string& url);
// Percent-encodes a query value (OData $filter text).
std::string url_encode(const std::string& s);

}  // namespace homelens::feed
