#include "homelens/eval/report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "homelens/image/decode.h"

namespace homelens::eval {

namespace fs = std::filesystem;

namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string num(double v, int digits = 3) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

// A 160-px-high JPEG of the photo under dir/thumbs, once per photo; "" when it cannot be read.
std::string thumbnail(const fs::path& dir, const std::string& path,
                      std::map<std::string, std::string>& done) {
  if (auto it = done.find(path); it != done.end()) return it->second;
  std::string rel;
  if (auto d = image::decode_file(path)) {
    cv::Mat bgr;
    const double f = 160.0 / d->rgb.rows;
    cv::resize(d->rgb, bgr, cv::Size(), f, f, cv::INTER_AREA);
    cv::cvtColor(bgr, bgr, cv::COLOR_RGB2BGR);
    std::string name = "thumbs/";
    name += std::to_string(done.size());
    name += ".jpg";
    if (cv::imwrite((dir / name).string(), bgr, {cv::IMWRITE_JPEG_QUALITY, 80})) rel = name;
  }
  done[path] = rel;
  return rel;
}

std::string bar_chart(const std::vector<ReportRow>& rows) {
  const int bar_h = 26, label_w = 110, width = 520;
  const int height = static_cast<int>(rows.size()) * bar_h + 30;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width + label_w + 60 << "' height='"
    << height << "' role='img'>";
  for (int t = 0; t <= 10; t += 2) {
    const int x = label_w + width * t / 10;
    s << "<line x1='" << x << "' y1='0' x2='" << x << "' y2='" << height - 20
      << "' stroke='#ddd'/><text x='" << x << "' y='" << height - 5
      << "' font-size='11' text-anchor='middle'>" << num(t / 10.0, 1) << "</text>";
  }
  int y = 4;
  for (const auto& r : rows) {
    const double v = r.figures.empty() ? 0 : r.figures.front().second;
    s << "<text x='" << label_w - 6 << "' y='" << y + 16 << "' font-size='13' text-anchor='end'>"
      << esc(r.method) << "</text><rect x='" << label_w << "' y='" << y << "' width='"
      << static_cast<int>(width * std::clamp(v, 0.0, 1.0)) << "' height='" << bar_h - 6
      << "' fill='#3b7dd8'/><text x='" << label_w + static_cast<int>(width * v) + 4 << "' y='"
      << y + 16 << "' font-size='12'>" << num(v) << "</text>";
    y += bar_h;
  }
  s << "</svg>";
  return s.str();
}

}  // namespace

Status write_report(const std::string& dir, const std::string& title, const std::string& summary,
                    const std::vector<ReportRow>& rows) {
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "thumbs", ec);
  if (ec) return make_error(dir, "cannot create the report folder: " + ec.message(), ErrorCode::kIO);
  std::ostringstream h;
  h << "<!doctype html><html><head><meta charset='utf-8'><title>" << esc(title)
    << "</title><style>body{font-family:sans-serif;margin:2em;color:#222}"
       "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;"
       "text-align:right}th:first-child,td:first-child{text-align:left}"
       ".strip{display:flex;flex-wrap:wrap;gap:14px}.t{border:1px solid #ccc;padding:6px}"
       ".t img{height:110px;margin-right:3px}.t div{font-size:12px}</style></head><body>";
  h << "<h1>" << esc(title) << "</h1><p>" << esc(summary) << "</p><table><tr><th>method</th>";
  if (!rows.empty())
    for (const auto& f : rows.front().figures) h << "<th>" << esc(f.first) << "</th>";
  h << "</tr>";
  for (const auto& r : rows) {
    h << "<tr><td>" << esc(r.method) << "</td>";
    for (const auto& f : r.figures) h << "<td>" << num(f.second) << "</td>";
    h << "</tr>";
  }
  h << "</table><h2>" << esc(rows.empty() || rows.front().figures.empty() ? "" : rows.front().figures.front().first)
    << " by method</h2>" << bar_chart(rows);
  std::map<std::string, std::string> thumbs;
  for (const auto& r : rows) {
    if (!r.triplets) continue;
    h << "<h2>" << esc(r.method) << ": " << r.triplets->wrong.size()
      << " wrong triplets (query, positive, negative)</h2><div class='strip'>";
    for (const auto& w : r.triplets->wrong) {
      const Triplet& t = *w.triplet;
      h << "<div class='t'>";
      for (const std::string* p : {&t.query, &t.positive, &t.negative}) {
        const std::string src = thumbnail(dir, *p, thumbs);
        h << "<img src='" << esc(src) << "' alt='" << esc(*p) << "' title='" << esc(*p) << "'>";
      }
      h << "<div>line " << t.line << ": positive " << num(w.positive) << " &le; negative "
        << num(w.negative) << "</div></div>";
    }
    h << "</div>";
  }
  h << "</body></html>\n";
  const fs::path file = fs::path(dir) / "index.html";
  std::ofstream out(file);
  out << h.str();
  if (!out) return make_error(file.string(), "cannot write the report", ErrorCode::kIO);
  return Status::Ok();
}

}  // namespace homelens::eval
