#include "homelens/serve/errors.h"

#include <httplib.h>

#include "homelens/serve/response_json.h"

namespace homelens::serve {

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kUnsupported: return 415;
    case ErrorCode::kUnprocessable: return 422;
    case ErrorCode::kConflict: return 409;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kCorruption: return 500;
    case ErrorCode::kIO: return 500;
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

const char* api_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kInvalidArgument: return "bad_request";
    case ErrorCode::kUnsupported: return "unsupported_media_type";
    case ErrorCode::kUnprocessable: return "bad_image";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kCorruption: return "corruption";
    case ErrorCode::kIO: return "io_error";
    case ErrorCode::kInternal: return "internal";
  }
  return "internal";
}

ApiError api_error(const Error& error) {
  return {http_status(error.code), api_code(error.code), error.message};
}

ApiError bad_request(const std::string& message) { return {400, "bad_request", message}; }
ApiError not_found(const std::string& message) { return {404, "not_found", message}; }

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump(nlohmann::json{{"error", {{"code", e.code}, {"message", e.message}}}}),
                  "application/json");
}

}  // namespace homelens::serve
