// The one table from error kinds to HTTP statuses: every kind has its status and
// an API code, and an engine error keeps its message on the way out.
#include "homelens/serve/errors.h"

#include <gtest/gtest.h>

#include <set>

namespace homelens::serve {
namespace {

TEST(ErrorTable, EachErrorKindMapsToItsHttpStatus) {
  EXPECT_EQ(http_status(ErrorCode::kNotFound), 404);
  EXPECT_EQ(http_status(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(http_status(ErrorCode::kUnsupported), 415);
  EXPECT_EQ(http_status(ErrorCode::kUnprocessable), 422);
  EXPECT_EQ(http_status(ErrorCode::kConflict), 409);
  EXPECT_EQ(http_status(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(http_status(ErrorCode::kCorruption), 500);
  EXPECT_EQ(http_status(ErrorCode::kIO), 500);
  EXPECT_EQ(http_status(ErrorCode::kInternal), 500);
}

TEST(ErrorTable, EveryKindHasItsOwnApiCodeAndTheMessageIsKept) {
  std::set<std::string> codes;
  for (ErrorCode c : {ErrorCode::kNotFound, ErrorCode::kInvalidArgument, ErrorCode::kUnsupported,
                      ErrorCode::kUnprocessable,
                      ErrorCode::kConflict, ErrorCode::kUnavailable, ErrorCode::kCorruption,
                      ErrorCode::kIO, ErrorCode::kInternal}) {
    const ApiError e = api_error(make_error("listing 7", "gone", c));
    EXPECT_EQ(e.status, http_status(c));
    EXPECT_EQ(e.message, "listing 7: gone");
    EXPECT_TRUE(codes.insert(e.code).second) << e.code << " is used twice";
  }
  EXPECT_EQ(api_error(make_error("", "x", ErrorCode::kNotFound)).code, "not_found");
  EXPECT_EQ(api_error(make_error("", "x", ErrorCode::kInvalidArgument)).code, "bad_request");
}

}  // namespace
}  // namespace homelens::serve
