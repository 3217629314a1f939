// Limits and auth in front of every route: the API key of write routes, and
// request bodies read piece by piece and refused the moment they pass the limit.
#pragma once

#include <cstddef>
#include <string>

namespace httplib {
struct Request;
class ContentReader;
}

namespace homelens::serve {

// Throws ApiError 401 unless the request carries `key` (X-API-Key, or
// Authorization: Bearer). An empty key lets every request through. The comparison
// takes the same time wherever the first wrong byte is.
void require_api_key(const httplib::Request& req, const std::string& key);

// Reads the body of req through reader into a copy of req (multipart parts into
// files, anything else into body). Throws ApiError 413 as soon as more than
// max_bytes arrive, or when the declared Content-Length is over it (httplib then
// skips the body), and 400 for a broken chunked or multipart encoding. httplib
// enforces its own limit only for bodies with a Content-Length, so a chunked upload
// would otherwise be held in memory whole.
httplib::Request read_body_limited(const httplib::Request& req, const httplib::ContentReader& reader,
                                   std::size_t max_bytes);

// Whether host names a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback_host(const std::string& host);

}  // namespace homelens::serve
