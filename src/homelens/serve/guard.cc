#include "homelens/serve/guard.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <openssl/crypto.h>

#include "homelens/serve/errors.h"

namespace homelens::serve {

void require_api_key(const httplib::Request& req, const std::string& key) {
  if (key.empty()) return;
  std::string given = req.get_header_value("X-API-Key");
  const std::string auth = req.get_header_value("Authorization");
  if (given.empty() && auth.rfind("Bearer ", 0) == 0) given = auth.substr(7);
  // CRYPTO_memcmp's time does not depend on where the bytes differ, so a client
  // cannot find the key a byte at a time; only its length can leak.
  const bool ok = given.size() == key.size() && CRYPTO_memcmp(given.data(), key.data(), key.size()) == 0;
  if (!ok) throw ApiError{401, "unauthorized", "this route needs the API key (X-API-Key header)"};
}

httplib::Request read_body_limited(const httplib::Request& req, const httplib::ContentReader& reader,
                                   std::size_t max_bytes) {
  const ApiError too_large{413, "payload_too_large", "the request body is over the size limit"};
  httplib::Request full = req;
  std::size_t total = 0;
  bool over = false;
  auto take = [&](std::size_t n) {
    total += n;
    over = over || total > max_bytes;
    return !over;
  };
  bool read = false;
  if (req.is_multipart_form_data()) {
    httplib::MultipartFormData* current = nullptr;
    read = reader(
        [&](const httplib::MultipartFormData& part) {
          current = &full.files.emplace(part.name, part)->second;
          return true;
        },
        [&](const char* data, std::size_t n) {
          if (!take(n)) return false;
          if (current) current->content.append(data, n);
          return true;
        });
  } else {
    read = reader([&](const char* data, std::size_t n) {
      if (!take(n)) return false;
      full.body.append(data, n);
      return true;
    });
  }
  if (req.has_header("Content-Length")) {
    const std::string declared = req.get_header_value("Content-Length");
    if (declared.size() > 18 || std::stoull("0" + declared) > max_bytes) throw too_large;
  }
  if (over) throw too_large;
  if (!read) throw ApiError(bad_request("the request body could not be read (broken chunked or multipart encoding)"));
  return full;
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return false;
}

}  // namespace homelens::serve
