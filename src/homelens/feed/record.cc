#include "homelens/feed/record.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace homelens::feed {

namespace {

using nlohmann::json;

Error bad(const std::string& subject, const std::string& reason) {
  return make_error(subject, reason, ErrorCode::kInvalidArgument);
}

std::string squash(const std::string& s) {
  std::string out;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const json* field(const json& rec, const std::string& name) {
  auto it = rec.find(name);
  if (it == rec.end() || it->is_null()) return nullptr;
  return &*it;
}

// A number sent as a number or as a string ("425000", " 12.0 "); "" is absent.
Result<std::optional<double>> number(const json& rec, const std::string& name) {
  const json* v = field(rec, name);
  if (!v) return std::optional<double>();
  if (v->is_number()) return std::optional<double>(v->get<double>());
  if (v->is_string()) {
    std::string s = v->get<std::string>();
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t") + 1);
    if (s.empty()) return std::optional<double>();
    double d = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec == std::errc() && p == s.data() + s.size() && std::isfinite(d)) return std::optional<double>(d);
  }
  return bad(name, v->dump() + " is not a number");
}

// An integer field: 12 or 12.0 or "12"; 12.5 is refused.
Result<std::optional<double>> integer(const json& rec, const std::string& name) {
  auto n = number(rec, name);
  if (!n || !n->has_value()) return n;
  if (std::floor(**n) != **n) return bad(name, std::to_string(**n) + " is not a whole number");
  return n;
}

// Text from a string, a number, or an array of them (joined with ", ").
Result<std::string> text(const json& rec, const std::string& name) {
  const json* v = field(rec, name);
  if (!v) return std::string();
  auto one = [&](const json& x) -> Result<std::string> {
    if (x.is_string()) return x.get<std::string>();
    if (x.is_number_integer()) return std::to_string(x.get<long long>());
    if (x.is_number()) {
      const double d = x.get<double>();
      if (std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
      return x.dump();
    }
    if (x.is_boolean()) return std::string(x.get<bool>() ? "true" : "false");
    return bad(name, x.dump() + " is not text");
  };
  if (!v->is_array()) return one(*v);
  std::string out;
  for (const json& x : *v) {
    if (x.is_null()) continue;
    auto s = one(x);
    if (!s) return s;
    if (!out.empty()) out += ", ";
    out += *s;
  }
  return out;
}

Result<std::optional<bool>> boolean(const json& rec, const std::string& name) {
  const json* v = field(rec, name);
  if (!v) return std::optional<bool>();
  if (v->is_boolean()) return std::optional<bool>(v->get<bool>());
  if (v->is_number()) return std::optional<bool>(v->get<double>() != 0);
  if (v->is_string()) {
    const std::string s = squash(v->get<std::string>());
    if (s == "true" || s == "y" || s == "yes" || s == "1") return std::optional<bool>(true);
    if (s == "false" || s == "n" || s == "no" || s == "0" || s.empty()) return std::optional<bool>(false);
  }
  return bad(name, v->dump() + " is not a boolean");
}

Result<std::string> timestamp(const json& rec, const std::string& name) {
  auto t = text(rec, name);
  if (!t) return t;
  if (t->empty()) return std::string();
  auto n = normalize_timestamp(*t);
  if (!n) return bad(name, n.message());
  return n;
}

std::string format_number(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", d);
  return buf;
}

bool is_photo(const json& m) {
  const json* cat = field(m, "MediaCategory");
  if (cat && cat->is_string() && !cat->get<std::string>().empty()) {
    const std::string c = squash(cat->get<std::string>());
    return c == "photo" || c == "photos" || c == "image" || c == "images";
  }
  const json* type = field(m, "MediaType");
  if (type && type->is_string() && !type->get<std::string>().empty()) {
    const std::string t = squash(type->get<std::string>());
    return t == "jpeg" || t == "jpg" || t == "png" || t == "webp" || t == "gif" || t == "image" ||
           t.rfind("image/", 0) == 0;
  }
  return true;  // no category: feeds that send only photos often leave it out
}

}  // namespace

Result<std::string> normalize_timestamp(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, used = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
    return bad("\"" + s + "\"", "not a timestamp (expected YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm])");
  std::size_t i = 10;
  int millis = 0;
  long offset = 0;
  if (i < s.size()) {
    if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
      return bad("\"" + s + "\"", "not a timestamp (expected T after the date)");
    ++i;
    int n = 0;
    if (std::sscanf(s.c_str() + i, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5)
      return bad("\"" + s + "\"", "not a timestamp (bad time of day)");
    i += 5;
    if (i < s.size() && s[i] == ':') {
      if (std::sscanf(s.c_str() + i + 1, "%2d%n", &sec, &n) != 1 || n != 2)
        return bad("\"" + s + "\"", "not a timestamp (bad seconds)");
      i += 3;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      int digits = 0;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
        if (digits < 3) millis = millis * 10 + (s[i] - '0');
        ++digits;
        ++i;
      }
      if (digits == 0) return bad("\"" + s + "\"", "not a timestamp (empty fraction)");
      for (int k = digits; k < 3; ++k) millis *= 10;
    }
    if (i < s.size()) {
      if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == s.size()) {
        ++i;
      } else if (s[i] == '+' || s[i] == '-') {
        int oh = 0, om = 0;
        if (std::sscanf(s.c_str() + i + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || i + 6 != s.size())
          return bad("\"" + s + "\"", "not a timestamp (bad offset)");
        offset = (s[i] == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
        i = s.size();
      } else {
        return bad("\"" + s + "\"", "not a timestamp (trailing characters)");
      }
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return bad("\"" + s + "\"", "not a timestamp (a field is out of range)");
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  const std::time_t t = timegm(&tm) - offset;  // no offset: the feed's clock is taken as UTC
  std::tm out{};
  gmtime_r(&t, &out);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", out.tm_year + 1900, out.tm_mon + 1,
                out.tm_mday, out.tm_hour, out.tm_min, out.tm_sec, millis);
  return std::string(buf);
}

std::string FeedMedia::source() const {
  return "reso:" + key + "@" + (modified.empty() ? url : modified);
}

bool FeedMedia::title_hint() const {
  return preferred.value_or(false) || squash(image_of) == "frontofstructure";
}

std::vector<FeedMedia> map_media(const json& media, std::vector<std::string>& problems) {
  std::vector<FeedMedia> out;
  if (!media.is_array()) {
    problems.push_back("Media is not an array");
    return out;
  }
  int position = 0;
  for (const json& m : media) {
    const int pos = position++;
    if (!m.is_object()) {
      problems.push_back("media #" + std::to_string(pos) + ": not an object");
      continue;
    }
    if (!is_photo(m)) continue;
    FeedMedia fm;
    auto key = text(m, "MediaKey");
    auto url = text(m, "MediaURL");
    const std::string who = key && !key->empty() ? "media " + *key : "media #" + std::to_string(pos);
    if (!key || key->empty()) {
      problems.push_back(who + ": " + (key ? "no MediaKey" : key.message()));
      continue;
    }
    if (!url || url->empty()) {
      problems.push_back(who + ": " + (url ? "no MediaURL" : url.message()));
      continue;
    }
    auto order = integer(m, "Order");
    auto preferred = boolean(m, "PreferredPhotoYN");
    auto category = text(m, "MediaCategory");
    auto image_of = text(m, "ImageOf");
    auto modified = timestamp(m, "MediaModificationTimestamp");
    const Error* err = nullptr;
    for (const Error* e : {order ? nullptr : &order.error(), preferred ? nullptr : &preferred.error(),
                           category ? nullptr : &category.error(), image_of ? nullptr : &image_of.error(),
                           modified ? nullptr : &modified.error()})
      if (e && !err) err = e;
    if (err) {
      problems.push_back(who + ": " + err->message);
      continue;
    }
    fm.key = *key;
    fm.url = *url;
    fm.order = order->has_value() ? static_cast<int>(**order) : pos;
    fm.preferred = *preferred;
    fm.category = *category;
    fm.image_of = *image_of;
    fm.modified = *modified;
    out.push_back(std::move(fm));
  }
  std::stable_sort(out.begin(), out.end(), [](const FeedMedia& a, const FeedMedia& b) { return a.order < b.order; });
  return out;
}

Result<FeedRecord> map_record(const json& rec, const std::string& key_field, const std::string& media_field) {
  if (!rec.is_object()) return bad("record", "not a JSON object");
  auto key = text(rec, key_field);
  if (!key) return bad("record", key.message());
  if (key->empty()) return bad("record", "no " + key_field);
  FeedRecord r;
  r.key = *key;
  r.listing.id = *key;
  auto fail = [&](const Error& e) { return bad("listing " + r.key, e.message); };

  auto status = text(rec, "StandardStatus");
  if (!status) return fail(status.error());
  if (field(rec, "StandardStatus")) r.status = *status;
  auto can_view = boolean(rec, "MlgCanView");
  if (!can_view) return fail(can_view.error());
  const std::string sq = r.status ? squash(*r.status) : "";
  r.deleted = (can_view->has_value() && !**can_view) || sq == "delete" || sq == "deleted";
  auto modified = timestamp(rec, "ModificationTimestamp");
  if (!modified) return fail(modified.error());
  r.modified = *modified;
  if (r.deleted) return r;  // a withdrawn record carries little else

  auto price = number(rec, "ListPrice");
  if (!price) return fail(price.error());
  auto beds = integer(rec, "BedroomsTotal");
  if (!beds) return fail(beds.error());
  auto baths = integer(rec, "BathroomsTotalInteger");
  if (!baths) return fail(baths.error());
  auto area = number(rec, "LivingArea");
  if (!area) return fail(area.error());
  auto zip = text(rec, "PostalCode");
  if (!zip) return fail(zip.error());
  auto style = text(rec, "ArchitecturalStyle");
  if (!style) return fail(style.error());
  auto levels = text(rec, "Levels");
  if (!levels) return fail(levels.error());
  auto stories = number(rec, "StoriesTotal");
  if (!stories) return fail(stories.error());
  r.listing.price = *price;
  r.listing.beds = *beds;
  r.listing.baths = *baths;
  // Full, three-quarter, half and quarter baths give the usual decimal count (2 full + 1
  // half = 2.5), which BathroomsTotalInteger cannot carry.
  double parts = 0;
  for (const auto& [name, weight] : {std::pair<const char*, double>{"BathroomsFull", 1.0},
                                     {"BathroomsThreeQuarter", 0.75}, {"BathroomsHalf", 0.5},
                                     {"BathroomsOneQuarter", 0.25}}) {
    auto n = integer(rec, name);
    if (!n) return fail(n.error());
    parts += n->value_or(0) * weight;
  }
  if (parts > 0) r.listing.baths = parts;
  r.listing.area = *area;
  r.listing.zip = *zip;
  if (!style->empty()) r.listing.extra["style"] = *style;
  if (!levels->empty()) r.listing.extra["levels"] = *levels;
  if (stories->has_value()) r.listing.extra["stories"] = format_number(**stories);
  if (r.status && !r.status->empty()) r.listing.extra["status"] = *r.status;

  if (!media_field.empty()) {
    if (const json* m = field(rec, media_field)) r.media = map_media(*m, r.media_problems);
  }
  return r;
}

bool status_is_active(const std::optional<std::string>& status, const std::set<std::string>& active) {
  if (!status || status->empty()) return true;
  const std::string s = squash(*status);
  for (const std::string& a : active)
    if (squash(a) == s) return true;
  return false;
}

}  // namespace homelens::feed
