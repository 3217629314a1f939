// What the service benchmarks query and send: a synthetic table (random unit embeddings and
// tags) and a 1024-px upload.
#pragma once

#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "bench_util.h"
#include "homelens/model/embedding.h"
#include "homelens/store/store.h"

namespace homelens::bench {

// A table of `listings` listings with `per_listing` photos of random unit embeddings and tags.
inline void make_synthetic_db(const std::string& path, int listings, int per_listing, const std::string& model_id) {
  auto store = store::open_store(path);
  if (!store) throw std::runtime_error(store.message());
  std::mt19937 rng(1);
  std::normal_distribution<float> g;
  std::uniform_real_distribution<double> u(0, 1);
  const char* styles[] = {"spanish", "ranch", "traditional", "contemporary", "other"};
  const char* stories[] = {"1", "2", "3"};
  store::WriteBatch batch;
  for (int l = 0; l < listings; ++l) {
    store::Listing li;
    li.id = listing_name(l);
    li.price = 100000 + 900000 * u(rng);
    li.beds = 1 + static_cast<int>(5 * u(rng));
    li.baths = 1 + static_cast<int>(3 * u(rng));
    li.area = 800 + 3000 * u(rng);
    li.zip = std::to_string(90000 + static_cast<int>(9999 * u(rng)));
    batch.listings.push_back(li);
    for (int p = 0; p < per_listing; ++p) {
      store::Photo ph;
      ph.sha256 = li.id + "-" + std::to_string(p);
      ph.model_id = model_id;
      ph.width = 640;
      ph.height = 480;
      ph.embedding.resize(1280);
      for (auto& x : ph.embedding) x = std::abs(g(rng));
      model::l2_normalize(ph.embedding);
      ph.tags.front = static_cast<float>(p == 0 ? 0.9 : 0.05);
      ph.tags.style = styles[rng() % 5];
      ph.tags.stories = stories[rng() % 3];
      ph.tags.heads_id = "synthetic";
      store::Image im;
      im.listing_id = li.id;
      im.source = ph.sha256 + ".jpg";
      im.sha256 = ph.sha256;
      im.photo_order = p;
      im.is_title = p == 0;
      batch.photos.push_back(std::move(ph));
      batch.images.push_back(std::move(im));
    }
    if (batch.images.size() >= 2000 || l + 1 == listings) {
      if (auto st = (*store)->write(batch); !st) throw std::runtime_error(st.message());
      batch = {};
    }
  }
}

// The photo at `path` scaled (cubic) to 1024 px on its longer side and JPEG-encoded at
// quality 90, as a phone upload would be; `img` receives the scaled pixels.
inline std::string upload_jpeg(const std::string& path, cv::Mat& img) {
  img = cv::imread(path);
  if (img.empty()) throw std::runtime_error(path + ": cannot read the photo");
  const double s = 1024.0 / std::max(img.cols, img.rows);
  cv::resize(img, img, cv::Size(), s, s, cv::INTER_CUBIC);
  std::vector<uchar> jpeg;
  cv::imencode(".jpg", img, jpeg, {cv::IMWRITE_JPEG_QUALITY, 90});
  return std::string(jpeg.begin(), jpeg.end());
}

}  // namespace homelens::bench
