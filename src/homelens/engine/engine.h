// The engine: one object over the table (a Store), the in-memory catalogue, a pool of
// embedders and the tagger, offering the typed operations every front end needs (add,
// remove, similar, recommend, list, get). The CLI and the HTTP server call it and
// nothing below it, so both index, tag and answer the same way.
//
// Thread-safety: every public member may be called from many threads at once. Queries
// read the catalogue under a shared lock; writes go to the store first and are then
// applied to the catalogue from the store's change log (the same path that brings in
// what other processes write), so a write is visible to the next query on return.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "homelens/core/result.h"
#include "homelens/core/serial_thread.h"
#include "homelens/image/decode.h"
#include "homelens/image/decode_budget.h"
#include "homelens/index/ann_index.h"
#include "homelens/ingest/pipeline.h"
#include "homelens/ingest/source.h"
#include "homelens/model/embedder.h"
#include "homelens/model/model_spec.h"
#include "homelens/rank/catalog.h"
#include "homelens/rank/expansion.h"
#include "homelens/rank/recommender.h"
#include "homelens/store/store.h"
#include "homelens/tags/tagger.h"

namespace homelens::engine {

struct EngineOptions {
  std::string db = "homelens.db";  // store url: a SQLite path or postgresql://...
  model::ModelSpec spec;
  tags::Tagger tagger;             // tags new photos; may be empty
  int embedders = 1;               // networks for photos embedded on the query path (uploads)
  int threads_per_embedder = 0;    // threads inside one of them; 0 = the backend's (oneDNN: one)
  // An upload embedded while no other query or upload is under way and no other thread on the
  // machine is runnable runs its forward on every usable core (oneDNN only: the one runtime
  // whose thread count is per network), half the forward's latency on 2 cores; otherwise the
  // single-thread networks above serve, since a team of threads stalls whenever one of its
  // cores is taken.
  bool wide_when_idle = true;
  image::DecodeOptions decode;     // limits for photos given as bytes
  // Memory that photos being decoded on the query path (uploads) may hold at once,
  // estimated from their headers; a photo that does not fit now is refused with
  // kUnavailable (503) instead of queueing while the process grows.
  std::uint64_t decode_budget_bytes = 1ull << 30;
  std::string index;               // vector index kind (index::make_index spec; "" = the default)
  // How often the catalogue polls the store's change log for what other processes
  // wrote; 0 turns the background refresh off (refresh() still works).
  double refresh_seconds = 1.0;
  // The approximate index for whole-index queries (similar, and recommend without a
  // candidate list through ann.recommend_depth): used once the catalogue holds
  // ann.min_rows photos (0: never). Candidate-list queries stay exact.
  index::AnnOptions ann;
  // Where its IVF is saved with the change sequence it covers, so a restart loads it:
  // "" puts it beside a SQLite table (<db>.<model>.ann) and nowhere for PostgreSQL
  // (rebuilt at each start); a folder keeps it there (one file per table and model).
  std::string ann_dir;
  // Query photos the heads leave untagged (outside their domain) are compared by their vector
  // expanded with their nearest indexed photos (rank/expansion.h); neighbours 0 turns it off.
  rank::QueryExpansion expand_outside;
};

// A listing's attributes as a writer gives them: unset fields keep the stored value.
struct ListingPatch {
  std::optional<double> price, beds, baths, area;
  std::optional<std::string> zip;
};

// One photo to add to a listing (an upload).
struct AddImageRequest {
  std::string listing_id;
  std::string bytes;                 // the photo file's bytes
  std::string filename = "upload";   // for messages
  std::optional<std::string> source; // stable name; re-adding a source replaces its photo
  std::optional<int> photo_order;    // default: after the listing's photos
  std::optional<bool> is_title;      // given: the title is fixed; absent: chosen by front probability
  ListingPatch listing;
};

struct AddImageResult {
  bool created = false;  // false: these bytes were already this listing's image
  std::int64_t image_id = 0;
  std::string listing_id;
  std::string sha256;
  store::Tags tags;
};

// An image as the front ends show it (a copy: valid after the catalogue changes).
struct ImageView {
  store::Image image;
  std::string sha256;
  store::Tags tags;
};

struct ListingView {
  store::Listing listing;
  std::optional<std::int64_t> title_image;
  std::optional<store::Tags> title_tags;
  std::size_t photo_count = 0;
  std::vector<ImageView> images;  // only when asked for
};

struct ListingPage {
  std::size_t total = 0;  // listings with a photo that pass the filters
  std::vector<ListingView> listings;
};

// What to compare with: an indexed image, a listing's title photo, or a photo's bytes.
struct QuerySpec {
  std::optional<std::int64_t> image_id;
  std::optional<std::string> listing_id;
  std::optional<std::string> bytes;
  std::string filename = "upload";
};

// The query as resolved: its tags and where it came from.
struct QueryInfo {
  std::optional<std::int64_t> image_id;
  std::string listing_id;
  std::string sha256;
  store::Tags tags;
  // The heads found the photo outside their domain and the visual part compared its expanded
  // vector (EngineOptions::expand_outside).
  bool expanded = false;
};

// One recommended listing with everything an answer shows (copied out of the catalogue).
struct RecommendItem {
  std::string listing_id;
  std::int64_t image_id = 0;
  float score = 0;
  rank::Breakdown breakdown;
  std::optional<double> price, beds, baths, area;
  std::string zip;
  std::optional<float> front;
  std::string style, stories, room;
};

struct RecommendAnswer {
  QueryInfo query;
  std::vector<RecommendItem> results;
  std::size_t candidates = 0;
  bool approximate = false;  // whole-index candidates taken from the approximate index
};

struct SimilarOptions {
  std::size_t k = 10;
  bool exclude_same_listing = true;
  bool exclude_same_photo = false;
};

struct SimilarItem {
  std::int64_t image_id = 0;
  float score = 0;
  std::string listing_id;
  std::string source;
  store::Listing listing;
};

struct SimilarAnswer {
  QueryInfo query;
  std::vector<SimilarItem> results;
};

struct ImageContent {
  std::string bytes;
  std::string content_type;
  std::string sha256;
};

struct EngineStats {
  std::size_t images = 0, listings = 0, dim = 0;
  std::int64_t change_seq = 0;      // the last store change applied to the catalogue
  std::uint64_t refreshes = 0;      // refresh passes that applied at least one change
  bool ann = false;                 // whole-index queries answered by the approximate index
  std::uint64_t ann_builds = 0;     // times its IVF was trained and filled in this process
  std::uint64_t ann_loads = 0;      // times it was loaded from its file instead
  std::uint64_t ann_replayed = 0;   // changes replayed onto a loaded IVF to catch up
  std::uint64_t ann_recommends = 0; // recommends answered from the approximate index's candidates
  std::uint64_t wide_embeds = 0;    // uploads embedded on every core (EngineOptions::wide_when_idle)
  bool tags = false;
};

class Engine {
 public:
  // Opens the store (creating its schema) and the embedder pool. The catalogue is
  // loaded on the first query, or by load(). Errors name the store or model.
  static Result<std::unique_ptr<Engine>> open(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const model::ModelSpec& spec() const { return options_.spec; }
  bool has_tagger() const { return static_cast<bool>(options_.tagger); }
  // The table itself, for maintenance commands (train, retag) that work below the engine.
  store::Store& store() { return *store_; }

  // Loads the catalogue from the store (once) and starts the background refresh.
  Status load();
  // Applies every change committed to the store since the last one applied: what this
  // and other processes wrote or deleted. Incremental; never a full reload.
  Status refresh();

  // Indexes a batch (manifest, folder) through the ingest pipeline: decode, embed, tag,
  // store in transactions. Does not need the catalogue; a loaded one catches up.
  Result<ingest::IndexSummary> add_batch(const std::vector<ingest::Item>& items,
                                         ingest::PipelineOptions options);
  // Adds one photo to a listing (created or updated by request.listing). Idempotent by
  // content: the same bytes already in the listing (under the same source, when given)
  // return that image with created = false. Errors: kInvalidArgument for a bad photo or
  // request, kUnavailable when too many photos are being decoded at once.
  Result<AddImageResult> add_image(const AddImageRequest& request);
  // Removes an image (kNotFound if absent); its photo rows go once nothing refers to them.
  Status remove_image(std::int64_t image_id);
  // Removes a listing and its images (kNotFound if absent).
  Status remove_listing(const std::string& listing_id);

  // The k most similar images by cosine, best first.
  Result<SimilarAnswer> similar(const QuerySpec& query, const SimilarOptions& options);
  // Ranks candidate listings for the query (request.query is filled from `query`, and
  // request.ann_depth from the options: see RecommendAnswer::approximate).
  Result<RecommendAnswer> recommend(const QuerySpec& query, rank::RecommendRequest request);

  // Listings with a photo passing the filters, in id order (numeric ids numerically).
  Result<ListingPage> list_listings(const rank::Filters& filters, std::size_t offset,
                                    std::size_t limit);
  Result<ListingView> get_listing(const std::string& listing_id);
  Result<ImageView> get_image(std::int64_t image_id);
  // The photo's bytes (from its file, or from the store for uploads). kNotFound for an
  // unknown image; kIO when the bytes can no longer be read.
  Result<ImageContent> image_content(std::int64_t image_id);
  Result<EngineStats> stats();

 private:
  explicit Engine(EngineOptions options)
      : options_(std::move(options)), budget_(options_.decode_budget_bytes) {}
  Status ensure_loaded();
  Status ensure_pool();
  // With `wide`, an uploaded photo embedded on the wide network leaves its lock in *wide, so
  // that the scan that follows can run on the same, still awake, threads.
  // Expands `vector` in place when info's tags put the photo outside the heads' domain (the
  // caller holds catalog_mu_).
  void expand_if_outside(QueryInfo& info, std::vector<float>& vector) const;
  Result<QueryInfo> resolve(const QuerySpec& query, std::vector<float>& vector,
                            std::unique_lock<std::mutex>* wide = nullptr);
  // Decodes (within the decode budget), embeds, tags and (when `code`: for storing) codes one
  // photo through ingest's prepare steps, as the batch pipeline does. `keep_wide`: as resolve's.
  Result<store::Photo> prepare(const std::string& bytes, const std::string& name, bool code,
                               std::unique_lock<std::mutex>* keep_wide = nullptr);
  ListingView listing_view(const rank::CatalogListing& l, bool with_images) const;
  void refresh_loop();
  // Puts the approximate index over cat's exact one (once it has a dimension) and,
  // once cat is large enough, loads its saved IVF and replays the changes since, or
  // builds and saves it; seq is the change sequence cat reflects.
  Status prepare_ann(rank::Catalog& cat, std::int64_t seq);
  // Syncs every image changed after `after` into ann; the number of changes read.
  Result<std::uint64_t> replay_changes(index::AnnIndex& ann, std::int64_t after);
  // The file the approximate index is saved in ("" for none).
  std::string ann_path() const;

  EngineOptions options_;
  std::unique_ptr<store::Store> store_;
  image::DecodeBudget budget_;

  mutable std::shared_mutex catalog_mu_;  // readers: queries; writer: refresh
  rank::Catalog catalog_{0};
  std::atomic<bool> loaded_{false};  // read without load_mu_ on every query
  std::mutex load_mu_;
  std::mutex refresh_mu_;                 // one refresh pass at a time
  std::atomic<std::int64_t> applied_seq_{0};
  std::atomic<std::uint64_t> refreshes_{0};
  std::atomic<std::uint64_t> ann_recommends_{0};
  std::uint64_t ann_replayed_ = 0;  // under catalog_mu_

  std::mutex write_mu_;  // one upload or delete at a time keeps "already present" checks exact

  // Embedders for the query path, each used by one thread at a time.
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<model::Embedder>> pool_;
  int min_decode_side_ = 0;  // the model's, for reduced-scale JPEG decoding
  bool pool_made_ = false;
  // One network with a thread per usable core, for an upload when nothing else runs (null
  // when off, on one core, or not oneDNN); busy_ counts the queries, uploads and batches under way.
  std::unique_ptr<model::Embedder> wide_;
  // The one thread that runs wide_ (its OpenMP team belongs to that thread), with wide_mu_ held.
  std::unique_ptr<SerialThread> wide_thread_;
  std::mutex wide_mu_;
  std::atomic<int> busy_{0};
  std::atomic<std::uint64_t> wide_embeds_{0};

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread refresher_;
};

}  // namespace homelens::engine
