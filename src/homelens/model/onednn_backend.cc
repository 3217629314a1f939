#include "homelens/model/onednn_backend.h"

#include <omp.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <set>
#include <unordered_map>

#include "homelens/model/preprocess.h"

namespace homelens::model {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// ---- The ONNX graph, read once at load -------------------------------------------------

struct Weights {
  memory::dims dims;
  std::vector<float> data;
};

struct Node {
  std::string op;
  std::string name;
  std::vector<std::string> in;
  std::vector<std::string> out;
  memory::dims strides{1, 1};
  memory::dims pads{0, 0, 0, 0};  // ONNX order: begins, then ends
  std::int64_t group = 1;
  float lo = 0.f, hi = 0.f;       // Clip bounds (Relu: 0, +inf)
  std::int64_t axis = 1;          // Flatten, Softmax
  bool trans_b = false;           // Gemm
};

struct Graph {
  std::string input;
  std::vector<Node> nodes;
  std::map<std::string, Weights> init;
};

const std::set<std::string>& supported_ops() {
  static const std::set<std::string> ops{"Conv", "Clip",    "Relu",    "Add",
                                         "GlobalAveragePool", "Flatten", "Gemm", "Softmax"};
  return ops;
}

std::string node_label(const onnx::NodeProto& n) {
  return n.op_type() + (n.name().empty() ? " node" : " node '" + n.name() + "'") + " (output '" +
         (n.output_size() ? n.output(0) : std::string()) + "')";
}

Result<Weights> read_tensor(const onnx::TensorProto& t) {
  if (t.data_type() != onnx::TensorProto::FLOAT)
    return make_error(t.name(), "initializer of data type " + std::to_string(t.data_type()) +
                                    " (the oneDNN backend reads float32 only)",
                      ErrorCode::kUnsupported);
  Weights w;
  std::size_t count = 1;
  for (auto d : t.dims()) {
    w.dims.push_back(d);
    count *= static_cast<std::size_t>(d);
  }
  if (!t.raw_data().empty()) {
    if (t.raw_data().size() != count * sizeof(float))
      return make_error(t.name(), "raw data size does not match its dims", ErrorCode::kCorruption);
    w.data.resize(count);
    std::memcpy(w.data.data(), t.raw_data().data(), t.raw_data().size());
  } else {
    if (static_cast<std::size_t>(t.float_data_size()) != count)
      return make_error(t.name(), "float data size does not match its dims", ErrorCode::kCorruption);
    w.data.assign(t.float_data().begin(), t.float_data().end());
  }
  return w;
}

Result<Graph> read_graph(const std::string& path) {
  onnx::ModelProto model;
  {
    std::ifstream f(path, std::ios::binary);
    if (!f) return make_error(path, "cannot open the model file", ErrorCode::kIO);
    if (!model.ParseFromIstream(&f))
      return make_error(path, "not a readable ONNX model", ErrorCode::kCorruption);
  }
  const auto& g = model.graph();
  Graph graph;
  for (const auto& t : g.initializer()) {
    auto w = read_tensor(t);
    if (!w) return make_error(path, w.message(), w.code());
    graph.init.emplace(t.name(), std::move(*w));
  }
  for (const auto& i : g.input())
    if (!graph.init.count(i.name())) {
      if (!graph.input.empty())
        return make_error(path, "the graph has more than one input (" + graph.input + ", " +
                                    i.name() + ")", ErrorCode::kUnsupported);
      graph.input = i.name();
    }
  for (const auto& n : g.node()) {
    if (!supported_ops().count(n.op_type()))
      return make_error(path, "the oneDNN backend does not support operator " + n.op_type() +
                                  " (" + node_label(n) + ")",
                        ErrorCode::kUnsupported);
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      return make_error(path, "the oneDNN backend does not support operator " + n.domain() + "." +
                                  n.op_type(), ErrorCode::kUnsupported);
    Node node;
    node.op = n.op_type();
    node.name = n.name();
    node.in.assign(n.input().begin(), n.input().end());
    node.out.assign(n.output().begin(), n.output().end());
    if (node.op == "Relu") node.hi = std::numeric_limits<float>::infinity();
    if (node.op == "Clip") {
      node.lo = -std::numeric_limits<float>::infinity();
      node.hi = std::numeric_limits<float>::infinity();
    }
    auto refuse = [&](const std::string& why) {
      return make_error(path, "the oneDNN backend cannot run " + node_label(n) + ": " + why,
                        ErrorCode::kUnsupported);
    };
    for (const auto& a : n.attribute()) {
      const std::string& k = a.name();
      auto two = [&](memory::dims& d) { d.assign(a.ints().begin(), a.ints().end()); };
      if (node.op == "Conv" && k == "strides") two(node.strides);
      else if (node.op == "Conv" && k == "pads") two(node.pads);
      else if (node.op == "Conv" && k == "group") node.group = a.i();
      else if (node.op == "Conv" && k == "kernel_shape") continue;  // taken from the weights
      else if (node.op == "Conv" && k == "dilations") {
        for (auto d : a.ints())
          if (d != 1) return refuse("dilations other than 1");
      } else if (node.op == "Conv" && k == "auto_pad") {
        if (a.s() != "NOTSET") return refuse("auto_pad " + a.s());
      } else if (node.op == "Clip" && k == "min") node.lo = a.f();
      else if (node.op == "Clip" && k == "max") node.hi = a.f();
      else if ((node.op == "Flatten" || node.op == "Softmax") && k == "axis") node.axis = a.i();
      else if (node.op == "Gemm" && (k == "alpha" || k == "beta")) {
        if (a.f() != 1.f) return refuse(k + " other than 1");
      } else if (node.op == "Gemm" && k == "transA") {
        if (a.i() != 0) return refuse("transA");
      } else if (node.op == "Gemm" && k == "transB") {
        node.trans_b = a.i() != 0;
      } else {
        return refuse("attribute " + k);
      }
    }
    // Clip from opset 11 on takes its bounds as constant inputs.
    if (node.op == "Clip") {
      for (std::size_t k = 1; k < node.in.size() && k < 3; ++k) {
        if (node.in[k].empty()) continue;
        auto it = graph.init.find(node.in[k]);
        if (it == graph.init.end() || it->second.data.size() != 1)
          return refuse("bounds that are not constants");
        (k == 1 ? node.lo : node.hi) = it->second.data[0];
      }
      node.in.resize(1);
    }
    if (node.op == "Conv") {
      if (node.in.size() < 2 || !graph.init.count(node.in[1]) ||
          graph.init.at(node.in[1]).dims.size() != 4)
        return refuse("weights that are not a constant 4-D tensor");
      if (node.in.size() > 2 && !graph.init.count(node.in[2]))
        return refuse("a bias that is not constant");
      if (node.strides.size() != 2 || node.pads.size() != 4) return refuse("not a 2-D convolution");
    }
    if (node.op == "Gemm") {
      if (node.in.size() < 2 || !graph.init.count(node.in[1]) ||
          graph.init.at(node.in[1]).dims.size() != 2)
        return refuse("a B operand that is not a constant matrix");
      if (node.in.size() > 2 && !graph.init.count(node.in[2]))
        return refuse("a C operand that is not constant");
      auto& b = graph.init.at(node.in[1]);
      if (!node.trans_b) {  // oneDNN's inner product wants weights as (out, in): transpose once
        const auto rows = b.dims[0], cols = b.dims[1];
        std::vector<float> t(b.data.size());
        for (std::int64_t r = 0; r < rows; ++r)
          for (std::int64_t c = 0; c < cols; ++c) t[c * rows + r] = b.data[r * cols + c];
        b.data = std::move(t);
        b.dims = {cols, rows};
        node.trans_b = true;
      }
    }
    graph.nodes.push_back(std::move(node));
  }
  if (graph.input.empty()) return make_error(path, "the graph has no input", ErrorCode::kUnsupported);
  return graph;
}

// ---- Execution plans: primitives and buffers for one batch size ------------------------

constexpr int kInputBuffer = -1;

struct MemRef {
  MemRef() = default;
  MemRef(memory::desc d, int b = kInputBuffer) : md(std::move(d)), buffer(b) {}
  memory::desc md;
  int buffer = kInputBuffer;  // index into Plan::buffers, or the caller's input blob
  memory constant_mem;        // set for weights and biases, already in their final layout
};

struct Step {
  dnnl::primitive prim;
  std::unordered_map<int, MemRef> args;
  std::unordered_map<int, memory> mems;  // materialized once the buffers are sized
};

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

struct Plan {
  std::vector<std::size_t> buffer_bytes;
  std::vector<std::unique_ptr<float, AlignedFree>> buffers;
  std::vector<Step> steps;
  memory input;
  std::vector<std::pair<memory::desc, int>> outputs;  // plain layout, one per requested output
};

struct Tensor {
  memory::desc md;
  int buffer = kInputBuffer;
};

class OneDnnBackend final : public ModelBackend {
 public:
  OneDnnBackend(ModelSpec spec, BackendOptions options, Graph graph)
      : spec_(std::move(spec)), options_(options), graph_(std::move(graph)),
        engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    outputs_.push_back(spec_.embedding_output);
    if (options_.want_probabilities && !spec_.probabilities_output.empty())
      outputs_.push_back(spec_.probabilities_output);
    if (!spec_.feature_map_output.empty()) outputs_.push_back(spec_.feature_map_output);
  }

  const ModelSpec& spec() const override { return spec_; }
  const char* name() const override { return "onednn"; }
  // One image a forward: its activations stay in cache, where a batch's stream through memory.
  // Measured per image on one thread, MobileNetV2: batch 1 7.8 ms, 4 8.0, 16 9.5 alone; with
  // a second network running beside it (two index workers on 2 cores) 17.4, 19.5 and 21.2.
  int best_batch() const override { return 1; }

  // The same team size as forward(), so a warm team takes the parts at once.
  void run_parts(std::size_t n, const std::function<void(std::size_t)>& f) const override {
    use_threads();
    const auto parts = static_cast<std::ptrdiff_t>(n);
#pragma omp parallel for schedule(dynamic, 1)
    for (std::ptrdiff_t i = 0; i < parts; ++i) f(static_cast<std::size_t>(i));
  }

  // oneDNN fixes a primitive's thread count when it is created, so this runs before
  // plans are built as well as before each forward.
  void use_threads() const {
    if (options_.threads > 0) omp_set_num_threads(options_.threads);
    else if (!std::getenv("OMP_NUM_THREADS")) omp_set_num_threads(1);
  }

  // Builds the plan for batch size 1 so that a graph it cannot run fails at load.
  Status prepare() {
    use_threads();
    auto p = plan_for({1, spec_.input.height, spec_.input.width});
    if (!p) return p.error();
    return Status::Ok();
  }

  Result<ModelOutputs> forward(const cv::Mat& blob) override {
    if (blob.dims != 4 || blob.size[1] != 3 ||
        !valid_input_shape(blob.size[2], blob.size[3], spec_.input) || blob.type() != CV_32F ||
        !blob.isContinuous())
      return make_error(spec_.id, "input blob has the wrong shape");
    const int n = blob.size[0];
    // Callers run one backend per thread and get their parallelism from several of
    // them; an OpenMP team inside each forward oversubscribes the cores, and its
    // barriers stall whenever a core is busy (upload query p50 54 ms with the default
    // two-thread team against 20 ms with one, at load average 5 on 2 cores). So 0
    // means one thread here, unless OMP_NUM_THREADS says otherwise.
    use_threads();
    auto plan = plan_for({n, blob.size[2], blob.size[3]});
    if (!plan) return plan.error();
    Plan& p = **plan;
    ModelOutputs result;
    try {
      p.input.set_data_handle(const_cast<float*>(blob.ptr<float>()));
      for (auto& s : p.steps) s.prim.execute(stream_, s.mems);
      stream_.wait();
    } catch (const dnnl::error& e) {
      return make_error(spec_.id, std::string("oneDNN inference failed: ") + e.what());
    }
    for (std::size_t k = 0; k < outputs_.size(); ++k) {
      const auto& [md, buf] = p.outputs[k];
      const auto values = static_cast<int>(md.get_size() / sizeof(float));
      cv::Mat m(n, values / n, CV_32F);
      std::memcpy(m.data, p.buffers[buf].get(), md.get_size());
      if (k == 0) {
        result.embeddings = m;
      } else if (outputs_[k] == spec_.feature_map_output) {
        const auto dims = md.dims();
        if (dims.size() != 4)
          return make_error(spec_.id, "feature map output " + outputs_[k] + " is not 4-D");
        result.feature_map = m;
        result.map_height = static_cast<int>(dims[2]);
        result.map_width = static_cast<int>(dims[3]);
      } else {
        result.probabilities = m;
      }
    }
    if (result.embeddings.cols != spec_.embedding_dim)
      return make_error(spec_.id, "embedding output has " + std::to_string(result.embeddings.cols) +
                                      " values, spec says " + std::to_string(spec_.embedding_dim));
    return result;
  }

 private:
  // A plan per batch size and input size (a "whole" spec's photos come in several shapes).
  using PlanKey = std::array<int, 3>;  // n, height, width
  Result<Plan*> plan_for(const PlanKey& key) {
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second.get();
    // A server sees many batch sizes and shapes; keep the plans (and their buffers) of a few.
    if (plans_.size() >= 8) plans_.erase(std::prev(plans_.end()));
    auto plan = build(key[0], key[1], key[2]);
    if (!plan) return plan.error();
    auto* raw = plan->get();
    plans_.emplace(key, std::move(*plan));
    return raw;
  }

  // The constant in `md`, reordered from its plain ONNX layout once and shared by all plans.
  memory constant(const std::string& name, const memory::desc& md, const memory::desc& plain) {
    for (auto& [key, mem] : constants_)
      if (key == name && mem.get_desc() == md) return mem;
    auto& w = graph_.init.at(name);
    memory src(plain, engine_, w.data.data());
    memory dst(md, engine_);
    dnnl::reorder(src, dst).execute(stream_, src, dst);
    stream_.wait();
    constants_.emplace_back(name, dst);
    return dst;
  }

  Result<std::unique_ptr<Plan>> build(int n, int height, int width) {
    const std::string& path = spec_.files.at(0);
    auto plan = std::make_unique<Plan>();
    Plan& p = *plan;
    std::vector<int> free_buffers;
    auto alloc = [&](const memory::desc& md) {
      const std::size_t bytes = md.get_size();
      // Best fit among the free buffers; they grow to their largest use.
      int best = -1;
      for (std::size_t k = 0; k < free_buffers.size(); ++k) {
        const int b = free_buffers[k];
        if (best < 0 || (p.buffer_bytes[b] >= bytes) > (p.buffer_bytes[free_buffers[best]] >= bytes) ||
            ((p.buffer_bytes[b] >= bytes) == (p.buffer_bytes[free_buffers[best]] >= bytes) &&
             p.buffer_bytes[b] < p.buffer_bytes[free_buffers[best]]))
          best = static_cast<int>(k);
      }
      if (best >= 0) {
        const int b = free_buffers[best];
        free_buffers.erase(free_buffers.begin() + best);
        p.buffer_bytes[b] = std::max(p.buffer_bytes[b], bytes);
        return b;
      }
      p.buffer_bytes.push_back(bytes);
      return static_cast<int>(p.buffer_bytes.size()) - 1;
    };

    // Which nodes the requested outputs need, and when each tensor is last read.
    std::set<std::string> wanted(outputs_.begin(), outputs_.end());
    std::unordered_map<std::string, int> producer;
    for (std::size_t i = 0; i < graph_.nodes.size(); ++i)
      for (const auto& o : graph_.nodes[i].out) producer[o] = static_cast<int>(i);
    std::vector<bool> needed(graph_.nodes.size(), false);
    {
      std::vector<std::string> todo(outputs_.begin(), outputs_.end());
      while (!todo.empty()) {
        auto name = todo.back();
        todo.pop_back();
        auto it = producer.find(name);
        if (it == producer.end() || needed[it->second]) continue;
        needed[it->second] = true;
        for (const auto& i : graph_.nodes[it->second].in) todo.push_back(i);
      }
    }
    for (const auto& o : outputs_)
      if (!producer.count(o) && o != graph_.input)
        return make_error(path, "the graph has no output named " + o, ErrorCode::kInvalidArgument);
    std::unordered_map<std::string, int> last_use;
    std::unordered_map<std::string, std::vector<int>> consumers;
    for (std::size_t i = 0; i < graph_.nodes.size(); ++i) {
      if (!needed[i]) continue;
      for (const auto& in : graph_.nodes[i].in) {
        last_use[in] = static_cast<int>(i);
        consumers[in].push_back(static_cast<int>(i));
      }
    }

    std::unordered_map<std::string, Tensor> t;
    t[graph_.input] = {memory::desc({n, 3, height, width}, dt::f32, tag::nchw), kInputBuffer};
    std::set<std::string> released;
    auto release_dead = [&](int upto) {
      for (auto& [name, ten] : t) {
        if (ten.buffer < 0 || wanted.count(name) || released.count(name)) continue;
        auto lu = last_use.find(name);
        if (lu == last_use.end() || lu->second <= upto) {
          free_buffers.push_back(ten.buffer);
          released.insert(name);
        }
      }
    };
    auto add_step = [&](dnnl::primitive prim, std::unordered_map<int, MemRef> args) {
      p.steps.push_back(Step{std::move(prim), std::move(args), {}});
    };
    // The tensor in layout md, reordering it into a scratch buffer when it differs.
    std::vector<int> scratch;
    auto as = [&](const Tensor& ten, const memory::desc& md) -> MemRef {
      if (ten.md == md) return MemRef{md, ten.buffer};
      MemRef dst{md, alloc(md)};
      scratch.push_back(dst.buffer);
      add_step(dnnl::reorder(dnnl::reorder::primitive_desc(engine_, ten.md, engine_, md)),
               {{DNNL_ARG_FROM, MemRef{ten.md, ten.buffer}}, {DNNL_ARG_TO, dst}});
      return dst;
    };
    auto get = [&](const std::string& name) -> Result<Tensor> {
      auto it = t.find(name);
      if (it == t.end()) return make_error(path, "tensor " + name + " is used before it is computed",
                                           ErrorCode::kUnsupported);
      return it->second;
    };
    auto single_consumer = [&](const std::string& name) -> int {
      if (wanted.count(name)) return -1;
      auto it = consumers.find(name);
      return it != consumers.end() && it->second.size() == 1 ? it->second[0] : -1;
    };

    std::vector<bool> done(graph_.nodes.size(), false);
    for (std::size_t i = 0; i < graph_.nodes.size(); ++i) {
      if (!needed[i] || done[i]) continue;
      const Node& node = graph_.nodes[i];
      int group_end = static_cast<int>(i);
      try {
        auto src_r = get(node.in.at(0));
        if (!src_r) return src_r.error();
        const Tensor src = *src_r;
        const memory::dims sd = src.md.dims();
        std::string out = node.out.at(0);
        if (node.op == "Conv") {
          const auto& w = graph_.init.at(node.in[1]);
          const memory::dim oc = w.dims[0], kh = w.dims[2], kw = w.dims[3], g = node.group;
          if (sd.size() != 4 || w.dims[1] * g != sd[1] || oc % g != 0)
            return make_error(path, "Conv " + out + ": weights do not match the input channels",
                              ErrorCode::kUnsupported);
          const memory::dims pl{node.pads[0], node.pads[1]}, pr{node.pads[2], node.pads[3]};
          const memory::dim oh = (sd[2] + pl[0] + pr[0] - kh) / node.strides[0] + 1;
          const memory::dim ow = (sd[3] + pl[1] + pr[1] - kw) / node.strides[1] + 1;
          const memory::dims od{n, oc, oh, ow};
          // Fuse what follows when nothing else reads the intermediate tensors:
          // Clip/Relu as eltwise post-ops, a residual Add as a sum post-op.
          dnnl::post_ops po;
          std::string residual;
          for (;;) {
            const int j = single_consumer(out);
            if (j < 0 || !needed[j]) break;
            const Node& next = graph_.nodes[j];
            if (next.op == "Clip" || next.op == "Relu") {
              if (next.op == "Relu")
                po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
              else
                po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, next.lo, next.hi);
            } else if (next.op == "Add" && residual.empty() && next.in.size() == 2) {
              const std::string& other = next.in[0] == out ? next.in[1] : next.in[0];
              auto ot = t.find(other);
              if (ot == t.end() || ot->second.md.dims() != od) break;
              po.append_sum(1.f);
              residual = other;
            } else {
              break;
            }
            done[j] = true;
            group_end = j;
            out = next.out.at(0);
          }
          dnnl::primitive_attr attr;
          attr.set_post_ops(po);
          const bool grouped = g > 1;
          const memory::dims wd = grouped ? memory::dims{g, oc / g, w.dims[1], kh, kw}
                                          : memory::dims{oc, w.dims[1], kh, kw};
          const bool has_bias = node.in.size() > 2;
          const memory::desc bias_md = has_bias ? memory::desc({oc}, dt::f32, tag::any) : memory::desc();
          dnnl::convolution_forward::desc d(
              dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
              memory::desc(sd, dt::f32, tag::any), memory::desc(wd, dt::f32, tag::any), bias_md,
              memory::desc(od, dt::f32, tag::any), node.strides, pl, pr);
          dnnl::convolution_forward::primitive_desc pd(d, attr, engine_);
          std::unordered_map<int, MemRef> args;
          args[DNNL_ARG_SRC] = as(src, pd.src_desc());
          MemRef wref{pd.weights_desc()};
          wref.constant_mem = constant(node.in[1], pd.weights_desc(),
                                       memory::desc(wd, dt::f32, grouped ? tag::goihw : tag::oihw));
          args[DNNL_ARG_WEIGHTS] = wref;
          if (has_bias) {
            MemRef bref{pd.bias_desc()};
            bref.constant_mem = constant(node.in[2], pd.bias_desc(), memory::desc({oc}, dt::f32, tag::x));
            args[DNNL_ARG_BIAS] = bref;
          }
          MemRef dst{pd.dst_desc(), -1};
          if (!residual.empty()) {
            Tensor& r = t.at(residual);
            // The residual is summed into dst: take its buffer when this is its last read.
            if (r.md == pd.dst_desc() && r.buffer >= 0 && !wanted.count(residual) &&
                last_use[residual] <= group_end && !released.count(residual)) {
              dst.buffer = r.buffer;
              released.insert(residual);
            } else {
              dst.buffer = alloc(pd.dst_desc());
              add_step(dnnl::reorder(dnnl::reorder::primitive_desc(engine_, r.md, engine_, pd.dst_desc())),
                       {{DNNL_ARG_FROM, MemRef{r.md, r.buffer}}, {DNNL_ARG_TO, dst}});
            }
          } else {
            dst.buffer = alloc(pd.dst_desc());
          }
          args[DNNL_ARG_DST] = dst;
          add_step(dnnl::convolution_forward(pd), std::move(args));
          t[out] = {pd.dst_desc(), dst.buffer};
        } else if (node.op == "Clip" || node.op == "Relu") {
          const bool relu = node.op == "Relu";
          dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference,
                                        relu ? dnnl::algorithm::eltwise_relu : dnnl::algorithm::eltwise_clip,
                                        src.md, relu ? 0.f : node.lo, relu ? 0.f : node.hi);
          dnnl::eltwise_forward::primitive_desc pd(d, engine_);
          MemRef dst{pd.dst_desc(), alloc(pd.dst_desc())};
          add_step(dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, MemRef{src.md, src.buffer}}, {DNNL_ARG_DST, dst}});
          t[out] = {dst.md, dst.buffer};
        } else if (node.op == "Add") {
          auto b_r = get(node.in.at(1));
          if (!b_r) return b_r.error();
          dnnl::binary::desc d(dnnl::algorithm::binary_add, src.md, b_r->md, src.md);
          dnnl::binary::primitive_desc pd(d, engine_);
          MemRef dst{pd.dst_desc(), alloc(pd.dst_desc())};
          add_step(dnnl::binary(pd), {{DNNL_ARG_SRC_0, MemRef{src.md, src.buffer}},
                                      {DNNL_ARG_SRC_1, MemRef{b_r->md, b_r->buffer}},
                                      {DNNL_ARG_DST, dst}});
          t[out] = {dst.md, dst.buffer};
        } else if (node.op == "GlobalAveragePool") {
          if (sd.size() != 4)
            return make_error(path, "GlobalAveragePool " + out + " on a tensor that is not 4-D",
                              ErrorCode::kUnsupported);
          dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference,
                                        dnnl::algorithm::pooling_avg_exclude_padding, src.md,
                                        memory::desc({n, sd[1], 1, 1}, dt::f32, tag::any), {1, 1},
                                        {sd[2], sd[3]}, {0, 0}, {0, 0});
          dnnl::pooling_forward::primitive_desc pd(d, engine_);
          MemRef dst{pd.dst_desc(), alloc(pd.dst_desc())};
          add_step(dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, as(src, pd.src_desc())}, {DNNL_ARG_DST, dst}});
          t[out] = {dst.md, dst.buffer};
        } else if (node.op == "Flatten") {
          if (node.axis != 1)
            return make_error(path, "Flatten " + out + " with axis " + std::to_string(node.axis),
                              ErrorCode::kUnsupported);
          // Reorder to the plain layout, whose bytes are the flattened matrix.
          memory::dim cols = 1;
          for (std::size_t k = 1; k < sd.size(); ++k) cols *= sd[k];
          const tag plain_tag = sd.size() == 4 ? tag::nchw : sd.size() == 2 ? tag::nc : tag::undef;
          if (plain_tag == tag::undef)
            return make_error(path, "Flatten " + out + " of a " + std::to_string(sd.size()) + "-D tensor",
                              ErrorCode::kUnsupported);
          const memory::desc plain_md(sd, dt::f32, plain_tag);
          MemRef dst{plain_md, alloc(plain_md)};
          add_step(dnnl::reorder(dnnl::reorder::primitive_desc(engine_, src.md, engine_, plain_md)),
                   {{DNNL_ARG_FROM, MemRef{src.md, src.buffer}}, {DNNL_ARG_TO, dst}});
          t[out] = {memory::desc({n, cols}, dt::f32, tag::nc), dst.buffer};
        } else if (node.op == "Gemm") {
          const auto& w = graph_.init.at(node.in[1]);  // (out, in) after load
          if (sd.size() != 2 || w.dims[1] != sd[1])
            return make_error(path, "Gemm " + out + ": B does not match A", ErrorCode::kUnsupported);
          const memory::dim o = w.dims[0];
          const bool has_bias = node.in.size() > 2;
          if (has_bias && graph_.init.at(node.in[2]).data.size() != static_cast<std::size_t>(o))
            return make_error(path, "Gemm " + out + ": C is not a vector of the output width",
                              ErrorCode::kUnsupported);
          dnnl::inner_product_forward::desc d(
              dnnl::prop_kind::forward_inference, src.md, memory::desc({o, sd[1]}, dt::f32, tag::any),
              has_bias ? memory::desc({o}, dt::f32, tag::x) : memory::desc(),
              memory::desc({n, o}, dt::f32, tag::nc));
          dnnl::inner_product_forward::primitive_desc pd(d, engine_);
          std::unordered_map<int, MemRef> args;
          args[DNNL_ARG_SRC] = as(src, pd.src_desc());
          MemRef wref{pd.weights_desc()};
          wref.constant_mem = constant(node.in[1], pd.weights_desc(), memory::desc({o, sd[1]}, dt::f32, tag::oi));
          args[DNNL_ARG_WEIGHTS] = wref;
          if (has_bias) {
            MemRef bref{pd.bias_desc()};
            bref.constant_mem = constant(node.in[2], pd.bias_desc(), memory::desc({o}, dt::f32, tag::x));
            args[DNNL_ARG_BIAS] = bref;
          }
          MemRef dst{pd.dst_desc(), alloc(pd.dst_desc())};
          args[DNNL_ARG_DST] = dst;
          add_step(dnnl::inner_product_forward(pd), std::move(args));
          t[out] = {dst.md, dst.buffer};
        } else if (node.op == "Softmax") {
          if (sd.size() != 2 || node.axis != 1)
            return make_error(path, "Softmax " + out + " other than over the columns of a matrix",
                              ErrorCode::kUnsupported);
          dnnl::softmax_forward::desc d(dnnl::prop_kind::forward_inference, src.md, 1);
          dnnl::softmax_forward::primitive_desc pd(d, engine_);
          MemRef dst{pd.dst_desc(), alloc(pd.dst_desc())};
          add_step(dnnl::softmax_forward(pd), {{DNNL_ARG_SRC, MemRef{src.md, src.buffer}}, {DNNL_ARG_DST, dst}});
          t[out] = {dst.md, dst.buffer};
        }
      } catch (const dnnl::error& e) {
        return make_error(path, "oneDNN could not build " + node.op + " '" + node.out.at(0) +
                                    "' for batch " + std::to_string(n) + ": " + e.what(),
                          ErrorCode::kUnsupported);
      }
      for (int b : scratch) free_buffers.push_back(b);
      scratch.clear();
      release_dead(group_end);
    }

    // The requested outputs, copied out in their plain layout.
    try {
      for (const auto& name : outputs_) {
        auto ten = get(name);
        if (!ten) return ten.error();
        const auto od = ten->md.dims();
        memory::dim cols = 1;
        for (std::size_t k = 1; k < od.size(); ++k) cols *= od[k];
        const tag plain_tag = od.size() == 4 ? tag::nchw : od.size() == 2 ? tag::nc : tag::undef;
        if (plain_tag == tag::undef)
          return make_error(path, "output " + name + " is neither 2-D nor 4-D", ErrorCode::kUnsupported);
        const memory::desc plain(od, dt::f32, plain_tag);
        const int buf = alloc(plain);  // never freed: read after the run
        add_step(dnnl::reorder(dnnl::reorder::primitive_desc(engine_, ten->md, engine_, plain)),
                 {{DNNL_ARG_FROM, MemRef{ten->md, ten->buffer}}, {DNNL_ARG_TO, MemRef{plain, buf}}});
        p.outputs.emplace_back(plain, buf);
      }
    } catch (const dnnl::error& e) {
      return make_error(path, std::string("oneDNN could not copy the outputs: ") + e.what());
    }

    // Size the buffers now that every use is known, then bind the memories.
    for (std::size_t b = 0; b < p.buffer_bytes.size(); ++b) {
      const std::size_t bytes = (std::max<std::size_t>(p.buffer_bytes[b], 64) + 63) / 64 * 64;
      p.buffers.emplace_back(static_cast<float*>(std::aligned_alloc(64, bytes)));
      if (!p.buffers.back()) return make_error(spec_.id, "out of memory for the batch plan");
    }
    p.input = memory(t.at(graph_.input).md, engine_, DNNL_MEMORY_NONE);
    for (auto& s : p.steps) {
      for (auto& [arg, ref] : s.args) {
        if (ref.constant_mem) {
          s.mems[arg] = ref.constant_mem;
        } else if (ref.buffer == kInputBuffer) {
          if (ref.md != p.input.get_desc())
            return make_error(path, "internal: the input is read in an unexpected layout");
          s.mems[arg] = p.input;
        } else {
          s.mems[arg] = memory(ref.md, engine_, p.buffers[ref.buffer].get());
        }
      }
    }
    return plan;
  }

  ModelSpec spec_;
  BackendOptions options_;
  Graph graph_;
  std::vector<std::string> outputs_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::vector<std::pair<std::string, memory>> constants_;
  std::map<PlanKey, std::unique_ptr<Plan>> plans_;
};

}  // namespace

Result<std::unique_ptr<ModelBackend>> open_onednn_backend(const ModelSpec& spec,
                                                          const BackendOptions& options) {
  if (spec.format != "onnx")
    return make_error(spec.spec_path, "the oneDNN backend reads ONNX models, not " + spec.format,
                      ErrorCode::kUnsupported);
  auto graph = read_graph(spec.files.at(0));
  if (!graph) return graph.error();
  try {
    auto backend = std::make_unique<OneDnnBackend>(spec, options, std::move(*graph));
    if (auto st = backend->prepare(); !st) return st.error();
    return std::unique_ptr<ModelBackend>(std::move(backend));
  } catch (const dnnl::error& e) {
    return make_error(spec.files.at(0), std::string("oneDNN could not start: ") + e.what());
  }
}

}  // namespace homelens::model
