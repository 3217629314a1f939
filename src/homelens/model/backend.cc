#include "homelens/model/backend.h"

#include <mutex>
#include <set>

#include "homelens/core/log.h"
#include "homelens/model/onednn_backend.h"
#include "homelens/model/opencv_backend.h"

namespace homelens::model {

Result<std::unique_ptr<ModelBackend>> create_backend(const ModelSpec& spec,
                                                     const BackendOptions& options) {
  if (spec.backend == "opencv") return OpenCvBackend::open(spec, options);
  if (spec.backend == "onednn") return open_onednn_backend(spec, options);
  if (spec.backend != "auto")
    return make_error(spec.spec_path, "unknown backend \"" + spec.backend +
                                          "\" (auto, onednn or opencv)",
                      ErrorCode::kInvalidArgument);
  auto fast = open_onednn_backend(spec, options);
  if (fast) return fast;
  {
    // Said once per model: every worker thread opens its own backend.
    static std::mutex mutex;
    static std::set<std::string> said;
    std::lock_guard lock(mutex);
    if (said.insert(spec.id).second)
      log::warn("oneDNN cannot run this model; using OpenCV DNN",
                {{"model", spec.id}, {"reason", fast.message()}});
  }
  return OpenCvBackend::open(spec, options);
}

}  // namespace homelens::model
