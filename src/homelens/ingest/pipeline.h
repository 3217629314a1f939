// The batch path: items -> read, hash, decode -> embed -> store, with decoding
// of one batch overlapping inference of another, commits in source order, and
// every bad photo reported without stopping the run.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "homelens/core/progress.h"
#include "homelens/image/decode.h"
#include "homelens/ingest/prepare.h"
#include "homelens/ingest/source.h"
#include "homelens/model/embedder.h"
#include "homelens/model/model_spec.h"
#include "homelens/store/store.h"
#include "homelens/tags/tagger.h"

namespace homelens::ingest {

struct PipelineOptions {
  int workers = 0;             // parallel decode+inference workers; 0 = one per core it may run on
  int threads_per_worker = 1;  // runtime threads inside one forward pass
  int batch_size = 16;         // photos per chunk: read, decoded and embedded together
  int chunks_in_flight = 0;    // read but not yet stored (bounds memory); 0 = two per worker
  std::size_t commit_every = 64;  // images per transaction
  image::DecodeOptions decode;
  ProgressMode progress = ProgressMode::kAuto;
  const std::atomic<bool>* stop = nullptr;  // set (e.g. by SIGINT) to finish early and cleanly
  tags::Tagger tagger;                      // optional
  // When set, kept at the number of items stored so far (for progress reported elsewhere:
  // an MPI rank's reports to rank 0).
  std::atomic<std::size_t>* processed = nullptr;
};

struct Failure {
  std::string source;
  std::string reason;
};

struct IndexSummary {
  std::size_t total = 0;
  std::size_t indexed = 0;          // embedded now
  std::size_t reused = 0;           // same bytes already embedded: stored without inference
  std::size_t already_present = 0;  // same listing, path and bytes were already stored
  std::size_t failed = 0;
  std::vector<Failure> failures;
  // Stored untagged because the tagger failed on them (counted in indexed); a run with
  // working heads tags them later from the stored embedding.
  std::size_t untagged = 0;
  std::vector<Failure> tag_failures;
  double seconds = 0;
  StageSeconds stages;  // where the workers' time went
  bool interrupted = false;
};

// Indexes items into store with the spec's model: a TBB pipeline reads chunks in order,
// decodes and embeds them in parallel (one single-threaded network per worker) and stores
// them in source order, so a killed and resumed run gives the same table and ids. Each
// transaction holds whole images; a crash loses at most the batch in flight and a rerun
// completes the job. Returns an error only when the store or model fails as a whole.
Result<IndexSummary> index_items(const std::vector<Item>& items, store::Store& store,
                                 const model::ModelSpec& spec, const PipelineOptions& options);

// Computes the model's code centres from the stored embeddings if it has none,
// then gives every photo without a code its code.
Status ensure_codes(store::Store& store, const std::string& model_id);

}  // namespace homelens::ingest
