#include "homelens/feed/client.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <locale>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace homelens::feed {

namespace {

bool retryable(int status) { return status == 429 || status >= 500; }

// Retry-After: delta seconds, or an HTTP date (RFC 9110: IMF-fixdate; the obsolete RFC 850 and
// asctime forms are accepted too). A date in the past means "now".
double retry_after(const httplib::Result& r) {
  if (!r || !r->has_header("Retry-After")) return -1;
  const std::string v = r->get_header_value("Retry-After");
  char* end = nullptr;
  const double s = std::strtod(v.c_str(), &end);
  if (end != v.c_str() && s >= 0) return s;
  for (const char* format : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y"}) {
    std::tm tm{};
    std::istringstream in(v);
    in.imbue(std::locale::classic());
    in >> std::get_time(&tm, format);
    if (in.fail()) continue;
    const auto when = std::chrono::system_clock::from_time_t(timegm(&tm));
    return std::max(0.0, std::chrono::duration<double>(when - std::chrono::system_clock::now()).count());
  }
  return -1;
}

std::unique_ptr<httplib::Client> make_client(const std::string& origin, const ClientOptions& o) {
  auto c = std::make_unique<httplib::Client>(origin);
  const auto secs = [](double s) { return std::chrono::microseconds(static_cast<long long>(s * 1e6)); };
  c->set_connection_timeout(secs(o.connect_timeout_s));
  c->set_read_timeout(secs(o.read_timeout_s));
  c->set_write_timeout(secs(o.read_timeout_s));
  c->set_follow_location(true);
  c->set_keep_alive(false);
  return c;
}

std::string describe(httplib::Error e, const ClientOptions& o) {
  switch (e) {
    case httplib::Error::Read:
      return "no complete answer within the " + std::to_string(static_cast<int>(o.read_timeout_s)) +
             " s timeout, or the connection dropped";
    case httplib::Error::Connection: return "cannot connect (unknown host or refused)";
    case httplib::Error::ConnectionTimeout: return "connecting timed out";
    default: return httplib::to_string(e);
  }
}

}  // namespace

Result<std::pair<std::string, std::string>> split_url(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos || (url.compare(0, scheme, "http") != 0 && url.compare(0, scheme, "https") != 0))
    return make_error(url, "not an http(s) URL", ErrorCode::kInvalidArgument);
  const auto slash = url.find('/', scheme + 3);
  if (slash == std::string::npos) return std::make_pair(url, std::string("/"));
  return std::make_pair(url.substr(0, slash), url.substr(slash));
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':' || c == ',') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

void Client::pace() {
  std::chrono::steady_clock::time_point slot;
  {
    std::lock_guard lock(mu_);
    ++requests_;
    if (o_.rate_limit <= 0) return;
    const auto now = std::chrono::steady_clock::now();
    slot = std::max(now, next_slot_);
    next_slot_ = slot + std::chrono::microseconds(static_cast<long long>(1e6 / o_.rate_limit));
  }
  std::this_thread::sleep_until(slot);
}

Result<std::string> Client::fetch_oauth_token() {
  auto parts = split_url(o_.token_url);
  if (!parts) return parts.error();
  auto c = make_client(parts->first, o_);
  pace();
  httplib::Params form{{"grant_type", "client_credentials"},
                       {"client_id", o_.client_id},
                       {"client_secret", o_.client_secret}};
  auto r = c->Post(parts->second, form);
  if (!r)
    return make_error(o_.token_url, "token request failed: " + describe(r.error(), o_),
                      ErrorCode::kUnavailable);
  if (r->status != 200)
    return make_error(o_.token_url, "token request answered HTTP " + std::to_string(r->status) + ": " +
                                        r->body.substr(0, 200),
                      ErrorCode::kInvalidArgument);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.contains("access_token") || !j["access_token"].is_string())
    return make_error(o_.token_url, "token response has no access_token", ErrorCode::kInvalidArgument);
  return j["access_token"].get<std::string>();
}

Result<std::string> Client::token(bool refresh) {
  std::lock_guard lock(mu_);
  if (token_loaded_ && !refresh) return token_;
  if (!o_.token_url.empty()) {
    mu_.unlock();  // the token request paces itself
    auto t = fetch_oauth_token();
    mu_.lock();
    if (!t) return t;
    token_ = *t;
  } else if (!o_.token_file.empty()) {
    std::ifstream in(o_.token_file);
    if (!in) return make_error(o_.token_file, "cannot read the token file", ErrorCode::kIO);
    std::stringstream ss;
    ss << in.rdbuf();
    token_ = ss.str();
    token_.erase(token_.find_last_not_of(" \r\n\t") + 1);
  } else {
    token_ = o_.token;
  }
  token_loaded_ = true;
  return token_;
}

Result<Response> Client::get(const std::string& url, bool with_auth, const std::string& accept) {
  auto parts = split_url(url);
  if (!parts) return parts.error();
  auto c = make_client(parts->first, o_);
  bool refreshed = false;
  double wait = o_.backoff_s;
  std::string last;
  for (int attempt = 0;; ++attempt) {
    httplib::Headers headers{{"Accept", accept}};
    if (with_auth) {
      auto t = token(false);
      if (!t) return t.error();
      if (!t->empty()) headers.emplace("Authorization", "Bearer " + *t);
    }
    pace();
    Response out;
    bool too_big = false;
    auto r = c->Get(
        parts->second, headers,
        [&](const httplib::Response& resp) {
          out.status = resp.status;
          out.content_type = resp.get_header_value("Content-Type");
          const std::string len = resp.get_header_value("Content-Length");
          if (!len.empty() && std::strtoull(len.c_str(), nullptr, 10) > o_.max_bytes) too_big = true;
          return !too_big;
        },
        [&](const char* data, std::size_t n) {
          if (out.body.size() + n > o_.max_bytes) {
            too_big = true;
            return false;
          }
          out.body.append(data, n);
          return true;
        });
    if (too_big)
      return make_error(url, "larger than the limit of " + std::to_string(o_.max_bytes) + " bytes",
                        ErrorCode::kIO);
    double pause = wait;
    if (!r) {
      last = describe(r.error(), o_);
      if (r.error() == httplib::Error::Read && out.status >= 200 && out.status < 300)
        return make_error(url, "the body was cut short (" + std::to_string(out.body.size()) + " bytes read)",
                          ErrorCode::kIO);
    } else if (r->status == 401 && with_auth) {
      const bool can_refresh = !o_.token_url.empty() || !o_.token_file.empty();
      if (refreshed || !can_refresh)
        return make_error(url,
                          refreshed ? "HTTP 401 Unauthorized again after a token refresh: check the credentials"
                                    : "HTTP 401 Unauthorized: the token was refused (give --token-file or "
                                      "OAuth2 client credentials so it can be refreshed)",
                          ErrorCode::kInvalidArgument);
      refreshed = true;
      if (auto t = token(true); !t) return t.error();
      --attempt;  // the refresh is not a retry
      continue;
    } else if (retryable(r->status)) {
      last = "HTTP " + std::to_string(r->status);
      if (const double ra = retry_after(r); ra >= 0) pause = ra;
    } else if (r->status >= 400) {
      std::string msg = "HTTP " + std::to_string(r->status);
      auto j = nlohmann::json::parse(out.body, nullptr, false);
      if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_object() &&
          j["error"].contains("message") && j["error"]["message"].is_string())
        msg += ": " + j["error"]["message"].get<std::string>();
      return make_error(url, msg, r->status == 404 ? ErrorCode::kNotFound : ErrorCode::kInvalidArgument);
    } else {
      return out;
    }
    if (attempt >= o_.retries)
      return make_error(url, last + " (gave up after " + std::to_string(attempt + 1) + " tries)",
                        ErrorCode::kUnavailable);
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(pause, o_.max_backoff_s)));
    wait = std::min(wait * 2, o_.max_backoff_s);
  }
}

}  // namespace homelens::feed
