// The --report page: one self-contained HTML file (inline CSS and SVG, no CDN) with the figures
// tables, a bar chart of the methods, and for triplets a strip of what each method got wrong.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "homelens/core/result.h"
#include "homelens/eval/evaluate.h"

namespace homelens::eval {

struct ReportRow {
  std::string method;
  std::vector<std::pair<std::string, double>> figures;  // column name, value in [0, 1]
  const TripletResult* triplets = nullptr;               // for the strip of wrong triplets
};

// Writes dir/index.html and, for the strips, thumbnails under dir/thumbs/ (the page refers to
// them relatively, so the folder can be moved or zipped as a whole). The first figure of each row
// is the one charted. Errors name the file that could not be written.
Status write_report(const std::string& dir, const std::string& title, const std::string& summary,
                    const std::vector<ReportRow>& rows);

}  // namespace homelens::eval
