// API errors: every failure a route reports is an ApiError, answered as
// {"error": {"code", "message"}} with the HTTP status of its kind. Engine errors
// carry an ErrorCode; http_status() is the one table that maps them.
#pragma once

#include <string>

#include "homelens/core/result.h"

namespace httplib {
struct Response;
}

namespace homelens::serve {

struct ApiError {
  int status = 500;
  std::string code;     // machine-readable: "bad_request", "not_found", ...
  std::string message;  // for a person: names the input and the reason
};

// The HTTP status of an error kind (the one place that decides it).
int http_status(ErrorCode code);
// The API's code word for an error kind.
const char* api_code(ErrorCode code);
// An engine error as the API reports it.
ApiError api_error(const Error& error);

ApiError bad_request(const std::string& message);
ApiError not_found(const std::string& message);

// Writes e as the response (status and JSON body).
void send_error(httplib::Response& res, const ApiError& e);

}  // namespace homelens::serve
