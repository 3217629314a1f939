#include "homelens/ingest/source.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>

#include "homelens/core/csv.h"

namespace homelens::ingest {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Parses a number, tolerating "$1,200" and blanks (blank = absent).
Result<std::optional<double>> parse_number(const std::string& raw, const std::string& column) {
  std::string s;
  for (char c : trim(raw))
    if (c != ',' && c != '$' && c != '_') s += c;
  if (s.empty()) return std::optional<double>();
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    return make_error("column " + column, "\"" + raw + "\" is not a number");
  return std::optional<double>(v);
}

Result<bool> parse_bool(const std::string& raw, const std::string& column) {
  const std::string s = lower(trim(raw));
  if (s == "1" || s == "true" || s == "yes" || s == "y" || s == "t") return true;
  if (s == "0" || s == "false" || s == "no" || s == "n" || s == "f" || s.empty()) return false;
  return make_error("column " + column, "\"" + raw + "\" is not a true/false value");
}

bool is_image_extension(const fs::path& p) {
  // Also formats HomeLens cannot read, so that they are reported rather than silently skipped.
  static const char* kExt[] = {".jpg", ".jpeg", ".png",  ".webp", ".bmp", ".tif", ".tiff",
                               ".gif", ".heic", ".heif", ".avif", ".jp2", ".jxl"};
  const std::string e = lower(p.extension().string());
  return std::any_of(std::begin(kExt), std::end(kExt), [&](const char* x) { return e == x; });
}

}  // namespace

Status apply_column_mapping(const std::vector<std::string>& mappings, ManifestColumns& cols) {
  for (const std::string& m : mappings) {
    auto eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size())
      return make_error("--col " + m, "expected NAME=COLUMN");
    const std::string key = m.substr(0, eq), col = m.substr(eq + 1);
    if (key == "path") cols.path = col;
    else if (key == "listing") cols.listing = col;
    else if (key == "order") cols.order = col;
    else if (key == "title") cols.title = col;
    else if (key == "price") cols.price = col;
    else if (key == "beds") cols.beds = col;
    else if (key == "baths") cols.baths = col;
    else if (key == "area") cols.area = col;
    else if (key == "zip") cols.zip = col;
    else if (key == "extra") cols.extra.push_back(col);
    else
      return make_error("--col " + m, "unknown name \"" + key +
                                          "\" (path, listing, order, title, price, beds, baths, "
                                          "area, zip, extra)");
  }
  return {};
}

Result<SourceItems> read_manifest(const std::string& manifest_path, const ManifestColumns& cols,
                                  const std::string& base_dir) {
  auto table = read_csv(manifest_path);
  if (!table) return table.error();
  SourceItems out;
  const std::string name = fs::path(manifest_path).filename().string();
  for (const auto& p : table->problems)
    out.problems.push_back({name + " line " + std::to_string(p.line), p.reason});

  auto column_index = [&](const std::string& col) -> Result<int> {
    if (col.empty()) return -1;
    auto it = std::find(table->header.begin(), table->header.end(), col);
    if (it == table->header.end())
      return make_error(manifest_path, "no column named \"" + col + "\" in the header");
    return static_cast<int>(it - table->header.begin());
  };
  int ipath, ilisting, iorder, ititle, iprice, ibeds, ibaths, iarea, izip;
  for (auto [name_ref, dst] : std::initializer_list<std::pair<const std::string*, int*>>{
           {&cols.path, &ipath}, {&cols.listing, &ilisting}, {&cols.order, &iorder},
           {&cols.title, &ititle}, {&cols.price, &iprice}, {&cols.beds, &ibeds},
           {&cols.baths, &ibaths}, {&cols.area, &iarea}, {&cols.zip, &izip}}) {
    auto idx = column_index(*name_ref);
    if (!idx) return idx.error();
    *dst = *idx;
  }
  if (ipath < 0) return make_error(manifest_path, "a path column is required");
  std::vector<int> iextra;
  for (const auto& e : cols.extra) {
    auto idx = column_index(e);
    if (!idx) return idx.error();
    iextra.push_back(*idx);
  }
  const fs::path base = base_dir.empty() ? fs::absolute(manifest_path).parent_path() : fs::path(base_dir);

  std::map<std::string, int> next_order;  // per listing, when no order column
  for (const CsvRow& row : table->rows) {
    const std::string where = name + " line " + std::to_string(row.line);
    auto problem = [&](const std::string& why) { out.problems.push_back({where, why}); };
    Item item;
    item.source = trim(row.fields[ipath]);
    if (item.source.empty()) {
      problem("empty path");
      continue;
    }
    fs::path p(item.source);
    item.path = (p.is_absolute() ? p : base / p).lexically_normal().string();
    item.listing.id = ilisting >= 0 ? trim(row.fields[ilisting]) : item.source;
    if (item.listing.id.empty()) {
      problem("empty listing id");
      continue;
    }
    bool ok = true;
    auto num = [&](int idx, const std::string& col, std::optional<double>& dst) {
      if (idx < 0 || !ok) return;
      auto v = parse_number(row.fields[idx], col);
      if (!v) {
        problem(v.message());
        ok = false;
      } else {
        dst = *v;
      }
    };
    num(iprice, cols.price, item.listing.price);
    num(ibeds, cols.beds, item.listing.beds);
    num(ibaths, cols.baths, item.listing.baths);
    num(iarea, cols.area, item.listing.area);
    std::optional<double> order;
    num(iorder, cols.order, order);
    if (ok && ititle >= 0) {
      auto t = parse_bool(row.fields[ititle], cols.title);
      if (!t) {
        problem(t.message());
        ok = false;
      } else {
        item.is_title = *t;
      }
    }
    if (!ok) continue;
    if (izip >= 0) item.listing.zip = trim(row.fields[izip]);
    item.photo_order = order ? static_cast<int>(*order) : next_order[item.listing.id]++;
    for (std::size_t k = 0; k < iextra.size(); ++k) item.extra[cols.extra[k]] = row.fields[iextra[k]];
    item.seq = out.items.size();
    out.items.push_back(std::move(item));
  }
  return out;
}

Result<SourceItems> scan_folder(const std::string& dir, bool listing_per_folder) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return make_error(dir, "not a folder");
  std::vector<fs::path> files;
  SourceItems out;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    if (is_image_extension(it->path())) files.push_back(it->path());
  }
  if (ec) return make_error(dir, "cannot list folder: " + ec.message());
  std::sort(files.begin(), files.end());
  std::map<std::string, int> next_order;
  for (const fs::path& f : files) {
    Item item;
    item.path = f.string();
    item.source = f.lexically_relative(dir).string();
    if (listing_per_folder) {
      std::string parent = fs::path(item.source).parent_path().string();
      item.listing.id = parent.empty() ? "." : parent;
    } else {
      item.listing.id = fs::path(item.source).replace_extension().string();
    }
    item.photo_order = next_order[item.listing.id]++;
    item.seq = out.items.size();
    out.items.push_back(std::move(item));
  }
  return out;
}

}  // namespace homelens::ingest
