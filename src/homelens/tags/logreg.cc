#include "homelens/tags/logreg.h"

#include <cblas.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <deque>

namespace homelens::tags {

namespace {

// Weighted cross-entropy + penalty and its gradient at theta = [W (K x d), b (K)].
double objective(const Matrix& z, const std::vector<int>& y, const std::vector<double>& w,
                 double wsum, std::size_t k, double l2, const std::vector<double>& theta,
                 std::vector<double>& grad, std::vector<double>& scratch) {
  const std::size_t n = z.rows, d = z.cols;
  const double* W = theta.data();
  const double* b = theta.data() + k * d;
  scratch.assign(n * k, 0.0);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(k),
              static_cast<int>(d), 1.0, z.data.data(), static_cast<int>(d), W, static_cast<int>(d),
              0.0, scratch.data(), static_cast<int>(k));
  double loss = 0;
  std::vector<double> gb(k, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    double* r = scratch.data() + i * k;
    double mx = -INFINITY;
    for (std::size_t c = 0; c < k; ++c) mx = std::max(mx, r[c] += b[c]);
    double s = 0;
    for (std::size_t c = 0; c < k; ++c) s += std::exp(r[c] - mx);
    const double lse = mx + std::log(s);
    const double wi = w[i] / wsum;
    loss += wi * (lse - r[y[i]]);
    // r becomes the residual (p - onehot) * w_i, the gradient of the loss wrt logits.
    for (std::size_t c = 0; c < k; ++c) {
      r[c] = wi * (std::exp(r[c] - lse) - (static_cast<int>(c) == y[i] ? 1.0 : 0.0));
      gb[c] += r[c];
    }
  }
  grad.assign(theta.size(), 0.0);
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(k), static_cast<int>(d),
              static_cast<int>(n), 1.0, scratch.data(), static_cast<int>(k), z.data.data(),
              static_cast<int>(d), 0.0, grad.data(), static_cast<int>(d));
  double pen = 0;
  for (std::size_t j = 0; j < k * d; ++j) {
    pen += W[j] * W[j];
    grad[j] += l2 * W[j];
  }
  for (std::size_t c = 0; c < k; ++c) grad[k * d + c] = gb[c];
  return loss + 0.5 * l2 * pen;
}

double dotv(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

Standardizer fit_standardizer(const Matrix& x, const std::vector<std::size_t>& rows) {
  std::vector<std::size_t> idx = rows;
  if (idx.empty())
    for (std::size_t i = 0; i < x.rows; ++i) idx.push_back(i);
  Standardizer s;
  s.mean.assign(x.cols, 0.0);
  s.scale.assign(x.cols, 0.0);
  if (idx.empty()) {
    s.scale.assign(x.cols, 1.0);
    return s;
  }
  for (std::size_t i : idx)
    for (std::size_t j = 0; j < x.cols; ++j) s.mean[j] += x.row(i)[j];
  for (double& m : s.mean) m /= static_cast<double>(idx.size());
  for (std::size_t i : idx)
    for (std::size_t j = 0; j < x.cols; ++j) {
      const double dv = x.row(i)[j] - s.mean[j];
      s.scale[j] += dv * dv;
    }
  for (double& v : s.scale) {
    v = std::sqrt(v / static_cast<double>(idx.size()));
    // Dimensions that never fire (post-ReLU zeros) would divide by ~0 and blow up noise.
    if (v < 1e-8) v = 1.0;
  }
  return s;
}

Matrix standardize(const Matrix& x, const Standardizer& s, const std::vector<std::size_t>& rows) {
  Matrix out;
  out.cols = x.cols;
  out.rows = rows.empty() ? x.rows : rows.size();
  out.data.resize(out.rows * out.cols);
  for (std::size_t r = 0; r < out.rows; ++r) {
    const double* src = x.row(rows.empty() ? r : rows[r]);
    double* dst = out.row(r);
    for (std::size_t j = 0; j < x.cols; ++j) dst[j] = (src[j] - s.mean[j]) / s.scale[j];
  }
  return out;
}

std::vector<double> balanced_weights(const std::vector<int>& labels, std::size_t classes,
                                     const std::vector<double>& base) {
  std::vector<double> total(classes, 0.0);
  double all = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    total[labels[i]] += base[i];
    all += base[i];
  }
  std::size_t present = 0;
  for (double t : total) present += t > 0;
  std::vector<double> w(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i)
    w[i] = base[i] * all / (static_cast<double>(present) * total[labels[i]]);
  return w;
}

LinearModel fit_logreg(const Matrix& z, const std::vector<int>& labels,
                       const std::vector<double>& weights, std::size_t classes,
                       const LogRegOptions& opt, const LinearModel* init) {
  assert(labels.size() == z.rows && weights.size() == z.rows);
  const std::size_t d = z.cols, k = classes, p = k * d + k;
  std::vector<double> theta(p, 0.0);
  if (init && init->classes == k && init->dim == d) {
    std::copy(init->weights.begin(), init->weights.end(), theta.begin());
    std::copy(init->bias.begin(), init->bias.end(), theta.begin() + k * d);
  }
  double wsum = 0;
  for (double w : weights) wsum += w;
  if (wsum <= 0) wsum = 1;

  std::vector<double> grad, scratch, g_new, t_new, dir(p);
  double f = objective(z, labels, weights, wsum, k, opt.l2, theta, grad, scratch);
  std::deque<std::vector<double>> S, Y;
  std::deque<double> rho;
  for (int it = 0; it < opt.max_iter; ++it) {
    double gmax = 0;
    for (double g : grad) gmax = std::max(gmax, std::abs(g));
    if (gmax < opt.grad_tol) break;
    // Two-loop recursion: dir = -H grad.
    std::vector<double> q = grad;
    std::vector<double> alpha(S.size());
    for (int i = static_cast<int>(S.size()) - 1; i >= 0; --i) {
      alpha[i] = rho[i] * dotv(S[i], q);
      for (std::size_t j = 0; j < p; ++j) q[j] -= alpha[i] * Y[i][j];
    }
    double gamma = S.empty() ? 1.0 / std::max(1.0, std::sqrt(dotv(grad, grad)))
                             : dotv(S.back(), Y.back()) / dotv(Y.back(), Y.back());
    for (std::size_t j = 0; j < p; ++j) q[j] *= gamma;
    for (std::size_t i = 0; i < S.size(); ++i) {
      const double beta = rho[i] * dotv(Y[i], q);
      for (std::size_t j = 0; j < p; ++j) q[j] += S[i][j] * (alpha[i] - beta);
    }
    for (std::size_t j = 0; j < p; ++j) dir[j] = -q[j];
    double slope = dotv(dir, grad);
    if (slope >= 0) {  // not a descent direction: restart from steepest descent
      S.clear();
      Y.clear();
      rho.clear();
      for (std::size_t j = 0; j < p; ++j)
        dir[j] = -grad[j] / std::max(1.0, std::sqrt(dotv(grad, grad)));
      slope = dotv(dir, grad);
    }
    // Backtracking line search (Armijo).
    double step = 1.0, f_new = f;
    bool moved = false;
    for (int ls = 0; ls < 30; ++ls) {
      t_new = theta;
      for (std::size_t j = 0; j < p; ++j) t_new[j] += step * dir[j];
      f_new = objective(z, labels, weights, wsum, k, opt.l2, t_new, g_new, scratch);
      if (f_new <= f + 1e-4 * step * slope) {
        moved = true;
        break;
      }
      step *= 0.5;
    }
    if (!moved) break;
    std::vector<double> s(p), yv(p);
    for (std::size_t j = 0; j < p; ++j) {
      s[j] = t_new[j] - theta[j];
      yv[j] = g_new[j] - grad[j];
    }
    const double sy = dotv(s, yv);
    if (sy > 1e-12) {
      S.push_back(std::move(s));
      Y.push_back(std::move(yv));
      rho.push_back(1.0 / sy);
      if (static_cast<int>(S.size()) > opt.history) {
        S.pop_front();
        Y.pop_front();
        rho.pop_front();
      }
    }
    const double df = f - f_new;
    theta.swap(t_new);
    grad.swap(g_new);
    f = f_new;
    if (df < 1e-12 * std::max(1.0, std::abs(f))) break;
  }
  LinearModel m;
  m.classes = k;
  m.dim = d;
  m.weights.assign(theta.begin(), theta.begin() + k * d);
  m.bias.assign(theta.begin() + k * d, theta.end());
  return m;
}

std::vector<double> predict_proba(const LinearModel& m, const Matrix& z) {
  const std::size_t n = z.rows, k = m.classes, d = m.dim;
  std::vector<double> out(n * k, 0.0);
  if (n == 0) return out;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(k),
              static_cast<int>(d), 1.0, z.data.data(), static_cast<int>(d), m.weights.data(),
              static_cast<int>(d), 0.0, out.data(), static_cast<int>(k));
  for (std::size_t i = 0; i < n; ++i) {
    double* r = out.data() + i * k;
    double mx = -INFINITY;
    for (std::size_t c = 0; c < k; ++c) mx = std::max(mx, r[c] += m.bias[c]);
    double s = 0;
    for (std::size_t c = 0; c < k; ++c) s += (r[c] = std::exp(r[c] - mx));
    for (std::size_t c = 0; c < k; ++c) r[c] /= s;
  }
  return out;
}

}  // namespace homelens::tags
