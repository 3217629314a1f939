#include "homelens/eval/expansion.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace homelens::eval {

namespace {

void normalize_rows(cv::Mat& m) {
  for (int i = 0; i < m.rows; ++i) {
    cv::Mat r = m.row(i);
    const double len = cv::norm(r);
    if (len > 0) r /= len;
  }
}

}  // namespace

cv::Mat expand_by_neighbours(const cv::Mat& rows, int n, double alpha) {
  cv::Mat out = rows.clone();
  if (n <= 0 || rows.rows < 2) return out;
  cv::Mat sim;
  cv::gemm(rows, rows, 1.0, cv::noArray(), 0.0, sim, cv::GEMM_2_T);
  const int k = std::min(n, rows.rows - 1);
  cv::parallel_for_(cv::Range(0, rows.rows), [&](const cv::Range& range) {
    std::vector<int> order(static_cast<std::size_t>(rows.rows));
    for (int i = range.start; i < range.end; ++i) {
      const float* s = sim.ptr<float>(i);
      std::iota(order.begin(), order.end(), 0);
      std::swap(order[static_cast<std::size_t>(i)], order.back());  // never its own neighbour
      std::partial_sort(order.begin(), order.begin() + k, order.end() - 1,
                        [&](int a, int b) { return s[a] > s[b]; });
      cv::Mat r = out.row(i);
      for (int j = 0; j < k; ++j) {
        const int o = order[static_cast<std::size_t>(j)];
        const double w = std::pow(std::max(s[o], 0.0f), alpha);
        if (w > 0) cv::scaleAdd(rows.row(o), w, r, r);
      }
    }
  });
  normalize_rows(out);
  return out;
}

Result<Whitening> learn_whitening(const cv::Mat& rows, const WhiteningOptions& o) {
  if (rows.rows < 2) return make_error("whitening", "needs at least 2 photos to learn from");
  if (o.shrink < 0 || o.shrink > 1)
    return make_error("whitening", "shrink must lie in [0, 1], got " + std::to_string(o.shrink));
  if (o.dims < 0) return make_error("whitening", "dims must be >= 0");
  cv::PCA pca(rows, cv::noArray(), cv::PCA::DATA_AS_ROW, o.dims);
  cv::Mat ev;
  pca.eigenvalues.convertTo(ev, CV_64F);
  // Centred rows span at most rows - 1 directions; the rest have eigenvalues at rounding level,
  // which a power would blow up.
  const double top = ev.rows > 0 ? ev.at<double>(0) : 0.0;
  int k = 0;
  while (k < ev.rows && k < rows.rows - 1 && ev.at<double>(k) > 1e-9 * top) ++k;
  if (k == 0) return make_error("whitening", "the photos do not vary (all embeddings alike)");
  const double mean = cv::mean(ev.rowRange(0, k))[0];
  Whitening w;
  w.mean = pca.mean.clone();
  pca.eigenvectors.rowRange(0, k).convertTo(w.projection, CV_32F);
  for (int i = 0; i < k; ++i) {
    const double lambda = (1 - o.shrink) * ev.at<double>(i) + o.shrink * mean;
    w.projection.row(i) *= std::pow(lambda, -o.power);
  }
  return w;
}

cv::Mat whiten(const Whitening& w, const cv::Mat& rows, bool normalize) {
  cv::Mat centred = rows - cv::repeat(w.mean, rows.rows, 1);
  cv::Mat out;
  cv::gemm(centred, w.projection, 1.0, cv::noArray(), 0.0, out, cv::GEMM_2_T);
  if (normalize) normalize_rows(out);
  return out;
}

}  // namespace homelens::eval
