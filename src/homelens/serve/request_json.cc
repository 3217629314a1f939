#include "homelens/serve/request_json.h"

namespace homelens::serve {

namespace {

using json = nlohmann::json;

// Forwards every event to nlohmann's own DOM builder, except the elements of
// the array at candidates.listing_ids, which it collects as strings.
class RequestSax final : public nlohmann::json_sax<json> {
 public:
  explicit RequestSax(ParsedRequest& out) : out_(out), dom_(out.body, false) {}
  bool bad_ids() const { return bad_ids_; }

  bool null() override { return capturing_ ? reject() : dom_.null(); }
  bool boolean(bool v) override { return capturing_ ? reject() : dom_.boolean(v); }
  bool number_integer(number_integer_t v) override {
    if (!capturing_) return dom_.number_integer(v);
    out_.listing_ids->push_back(std::to_string(v));
    return true;
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (!capturing_) return dom_.number_unsigned(v);
    out_.listing_ids->push_back(std::to_string(v));
    return true;
  }
  bool number_float(number_float_t v, const string_t& s) override {
    return capturing_ ? reject() : dom_.number_float(v, s);
  }
  bool string(string_t& v) override {
    if (!capturing_) return dom_.string(v);
    out_.listing_ids->push_back(std::move(v));
    return true;
  }
  bool binary(binary_t& v) override { return capturing_ ? reject() : dom_.binary(v); }
  bool start_object(std::size_t n) override {
    if (capturing_) return reject();
    path_.push_back({true, {}});
    return dom_.start_object(n);
  }
  bool key(string_t& k) override {
    path_.back().key = k;
    return dom_.key(k);
  }
  bool end_object() override {
    path_.pop_back();
    return dom_.end_object();
  }
  bool start_array(std::size_t n) override {
    if (capturing_) return reject();
    if (path_.size() == 2 && path_[0].object && path_[0].key == "candidates" && path_[1].object &&
        path_[1].key == "listing_ids") {
      // The DOM keeps the key with a null value; the ids go to the vector.
      capturing_ = true;
      out_.listing_ids.emplace();
      out_.listing_ids->reserve(1024);
      return true;
    }
    path_.push_back({false, {}});
    return dom_.start_array(n);
  }
  bool end_array() override {
    if (capturing_) {
      capturing_ = false;
      return true;
    }
    path_.pop_back();
    return dom_.end_array();
  }
  bool parse_error(std::size_t pos, const std::string& token, const nlohmann::detail::exception& e) override {
    return dom_.parse_error(pos, token, e);
  }

 private:
  bool reject() {
    bad_ids_ = true;
    return false;
  }
  struct Level {
    bool object;
    std::string key;  // the key being read, in an object
  };
  ParsedRequest& out_;
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::vector<Level> path_;
  bool capturing_ = false;
  bool bad_ids_ = false;
};

}  // namespace

Result<ParsedRequest> parse_request_json(std::string_view text) {
  ParsedRequest out;
  RequestSax sax(out);
  const bool ok = json::sax_parse(text, &sax, nlohmann::detail::input_format_t::json, true, false);
  if (sax.bad_ids()) return Error{"candidates.listing_ids must hold strings"};
  if (!ok || out.body.is_discarded()) return Error{"the body is not valid JSON"};
  if (!out.body.is_object()) return Error{"the JSON body must be an object"};
  return out;
}

}  // namespace homelens::serve
