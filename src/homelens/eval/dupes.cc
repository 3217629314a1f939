#include "homelens/eval/dupes.h"

#include <algorithm>
#include <map>
#include <numeric>

#include <opencv2/imgproc.hpp>
#include <tbb/parallel_for.h>

#include "homelens/model/embedding.h"

namespace homelens::eval {

namespace {

struct Coded {
  store::Image image;
  std::vector<std::uint8_t> code;
};

Result<std::vector<Coded>> coded_images(store::Store& store, const std::string& model_id) {
  std::vector<Coded> out;
  Status s = store.scan(model_id, [&](const store::ImageWithPhoto& r) {
    if (!r.photo.code.empty()) out.push_back({r.image, r.photo.code});
  });
  if (!s) return s.error();
  return out;
}

std::size_t find_root(std::vector<std::size_t>& parent, std::size_t i) {
  while (parent[i] != i) i = parent[i] = parent[parent[i]];
  return i;
}

}  // namespace

Result<std::vector<DupeGroup>> find_duplicates(store::Store& store, const std::string& model_id,
                                               int threshold) {
  auto imgs = coded_images(store, model_id);
  if (!imgs) return imgs.error();
  const auto& v = *imgs;
  const std::size_t n = v.size();
  // Pairs are found in parallel per row, then joined in one thread.
  std::vector<std::vector<std::size_t>> near(n);
  tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
    for (std::size_t j = i + 1; j < n; ++j)
      if (v[i].image.listing_id != v[j].image.listing_id &&
          model::hamming(v[i].code, v[j].code) <= threshold)
        near[i].push_back(j);
  });
  std::vector<std::size_t> parent(n);
  std::iota(parent.begin(), parent.end(), std::size_t{0});
  std::vector<bool> paired(n, false);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j : near[i]) {
      parent[find_root(parent, i)] = find_root(parent, j);
      paired[i] = paired[j] = true;
    }
  std::map<std::size_t, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < n; ++i)
    if (paired[i]) groups[find_root(parent, i)].push_back(i);
  std::vector<DupeGroup> out;
  for (auto& [root, members] : groups) {
    DupeGroup g;
    std::sort(members.begin(), members.end(),
              [&](std::size_t a, std::size_t b) { return v[a].image.id < v[b].image.id; });
    for (std::size_t i : members)
      g.members.push_back({v[i].image.id, v[i].image.listing_id, v[i].image.source,
                           model::hamming(v[members.front()].code, v[i].code)});
    out.push_back(std::move(g));
  }
  std::sort(out.begin(), out.end(), [](const DupeGroup& a, const DupeGroup& b) {
    return a.members.front().image_id < b.members.front().image_id;
  });
  return out;
}

Result<std::vector<DupeMember>> duplicates_of(store::Store& store, const std::string& model_id,
                                              std::int64_t image_id, int threshold) {
  auto q = store.get_image_with_photo(image_id, model_id);
  if (!q) return q.error();
  if (!q->has_value() || (*q)->photo.code.empty())
    return make_error("image " + std::to_string(image_id),
                      "has no binary code for model " + model_id, ErrorCode::kNotFound);
  auto imgs = coded_images(store, model_id);
  if (!imgs) return imgs.error();
  std::vector<DupeMember> out;
  for (const auto& c : *imgs) {
    if (c.image.listing_id == (*q)->image.listing_id) continue;
    const int d = model::hamming((*q)->photo.code, c.code);
    if (d <= threshold) out.push_back({c.image.id, c.image.listing_id, c.image.source, d});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const DupeMember& a, const DupeMember& b) { return a.distance < b.distance; });
  return out;
}

std::vector<Transform> duplicate_transforms() {
  std::vector<Transform> t;
  t.push_back({"reencode", 50, [](const cv::Mat& m) { return m.clone(); }});
  t.push_back({"resize", 90, [](const cv::Mat& m) {
                 cv::Mat r;
                 cv::resize(m, r, cv::Size(), 0.5, 0.5, cv::INTER_AREA);
                 return r;
               }});
  t.push_back({"crop", 90, [](const cv::Mat& m) {
                 const int dx = m.cols / 20, dy = m.rows / 20;
                 return m(cv::Rect(dx, dy, m.cols - 2 * dx, m.rows - 2 * dy)).clone();
               }});
  t.push_back({"brighten", 90, [](const cv::Mat& m) {
                 cv::Mat r;
                 m.convertTo(r, -1, 1.0, 40.0);
                 return r;
               }});
  t.push_back({"watermark", 90, [](const cv::Mat& m) {
                 cv::Mat r = m.clone(), band = m.clone();
                 const int h = std::max(12, m.rows / 10);
                 const cv::Rect box(0, m.rows - h - m.rows / 20, m.cols, h);
                 cv::rectangle(band, box, cv::Scalar(255, 255, 255), cv::FILLED);
                 cv::putText(band, "HOMELENS REALTY 555-0100", {box.x + 8, box.y + h * 3 / 4},
                             cv::FONT_HERSHEY_SIMPLEX, h / 40.0, cv::Scalar(20, 20, 120),
                             std::max(1, h / 20));
                 cv::addWeighted(band, 0.6, r, 0.4, 0, r);
                 return r;
               }});
  return t;
}

DupeMeasurement measure_duplicates(const std::string& method,
                                   const std::vector<std::vector<std::uint8_t>>& originals,
                                   const std::vector<std::vector<std::vector<std::uint8_t>>>& copies,
                                   const std::vector<std::string>& transform_names,
                                   std::optional<int> fixed_threshold) {
  DupeMeasurement m;
  m.method = method;
  const std::size_t n = originals.size();
  m.bits = n ? static_cast<int>(originals[0].size() * 8) : 0;
  const int max_t = m.bits / 2;
  // Histograms of distances by threshold: true pairs per transform, false pairs per transform,
  // and false pairs among originals.
  const std::size_t nt = copies.size();
  std::vector<std::vector<std::size_t>> true_h(nt, std::vector<std::size_t>(m.bits + 1)),
      false_h(nt, std::vector<std::size_t>(m.bits + 1));
  std::vector<std::size_t> orig_h(m.bits + 1);
  for (std::size_t t = 0; t < nt; ++t)
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        const int d = model::hamming(copies[t][i], originals[j]);
        (i == j ? true_h : false_h)[t][d]++;
      }
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) orig_h[model::hamming(originals[i], originals[j])]++;
  auto cumulative = [](const std::vector<std::size_t>& h, int t) {
    std::size_t s = 0;
    for (int d = 0; d <= t; ++d) s += h[d];
    return s;
  };
  int last_clean = 0;
  for (int t = 0; t <= max_t; ++t) {
    std::size_t tp = 0, fp = cumulative(orig_h, t);
    for (std::size_t k = 0; k < nt; ++k) {
      tp += cumulative(true_h[k], t);
      fp += cumulative(false_h[k], t);
    }
    m.curve.emplace_back(nt > 0 && n > 0 ? static_cast<double>(tp) / (nt * n) : 0.0, fp);
    if (fp == 0) last_clean = t;
  }
  // The middle of the clean band: from the first threshold reaching the best clean recall to the
  // last with no false pair, so copies edited a bit harder and unrelated photos a bit closer than
  // any measured here both keep a margin.
  int first_best = last_clean;
  while (first_best > 0 && m.curve[first_best - 1].first == m.curve[last_clean].first) --first_best;
  m.threshold = fixed_threshold ? std::min(*fixed_threshold, m.bits) : (first_best + last_clean) / 2;
  m.original_false_pairs = cumulative(orig_h, m.threshold);
  for (std::size_t k = 0; k < nt; ++k) {
    TransformScore s;
    s.transform = transform_names[k];
    s.copies = n;
    s.true_pairs = cumulative(true_h[k], m.threshold);
    s.false_pairs = cumulative(false_h[k], m.threshold);
    s.recall = n ? static_cast<double>(s.true_pairs) / n : 0;
    s.precision = s.true_pairs + s.false_pairs
                      ? static_cast<double>(s.true_pairs) / (s.true_pairs + s.false_pairs)
                      : 1.0;
    m.scores.push_back(s);
  }
  return m;
}

}  // namespace homelens::eval
