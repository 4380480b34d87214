#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

#include "model/forward.h"
#include "model/gguf.h"
#include "model/json.h"
#include "model/safetensors.h"
#include "model/weights.h"

namespace hs {

namespace {

std::atomic<uint64_t> g_next_model_id{1};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// llama.cpp stores Llama 3 rope scaling as a `rope_freqs.weight` tensor of
// per-frequency divisors instead of parameters. The kernel takes the
// parameters, so recompute the divisors from Llama 3.1's published values
// (low 1, high 4, original context 8192, factor = the largest divisor) and
// accept the tensor only if they match.
Status rope_freqs_to_llama3(const TensorInfo& t, ModelConfig* c, const GgufFile& g) {
  const int64_t rot = c->rope.rotary_dim > 0 ? c->rope.rotary_dim : c->head_dim;
  if (!t.supported || t.dtype != DType::F32 || t.shape != std::vector<int64_t>{rot / 2}) {
    return make_err(Code::UNSUPPORTED, "tensor 'rope_freqs.weight': expected F32 [" + std::to_string(rot / 2) + "]", t.file);
  }
  std::vector<float> f(static_cast<size_t>(rot / 2));
  // Invariant: the loader checked t.nbytes == 4 * rot / 2 bytes are mapped.
  std::memcpy(f.data(), t.data, f.size() * 4);
  float factor = 1.0f;
  for (float x : f) factor = std::max(factor, x);
  if (factor == 1.0f) return Status();  // all ones: no scaling
  double orig = 8192;
  const std::string orig_key = c->gguf_prefix + "rope.scaling.original_context_length";
  if (const GgufValue* v = g.get(orig_key); v != nullptr && v->is_integer()) {
    if (v->as_int() <= 0 || v->as_int() > INT32_MAX) {
      return make_err(Code::BAD_FORMAT, "header field '" + orig_key + "' = " + std::to_string(v->as_int()) + " is out of range", t.file);
    }
    orig = static_cast<double>(v->as_int());
  }
  const double lo = 1.0, hi = 4.0, pi = 3.14159265358979323846;
  for (size_t i = 0; i < f.size(); ++i) {
    double freq = std::pow(static_cast<double>(c->rope_theta), -2.0 * static_cast<double>(i) / static_cast<double>(rot));
    double wavelen = 2 * pi / freq, expect;
    if (wavelen < orig / hi) expect = 1.0;
    else if (wavelen > orig / lo) expect = factor;
    else {
      double smooth = (orig / wavelen - lo) / (hi - lo);
      expect = 1.0 / ((1 - smooth) / factor + smooth);
    }
    if (std::fabs(expect - f[i]) > 1e-3 * expect) {
      return make_err(Code::UNSUPPORTED, "tensor 'rope_freqs.weight': frequency factors are not Llama 3's (low 1, high 4)", t.file);
    }
  }
  c->rope.llama3_factor = factor;
  c->rope.llama3_low_freq_factor = static_cast<float>(lo);
  c->rope.llama3_high_freq_factor = static_cast<float>(hi);
  c->rope.llama3_original_max_pos = static_cast<int32_t>(orig);
  return Status();
}

Status load_hf(Model* m, FileHold hold) {
  const std::string cfg_path = m->path + "/config.json";
  if (!file_exists(cfg_path)) return make_err(Code::NOT_FOUND, "config.json not found", m->path);
  auto text = read_text_file(cfg_path, 16ull << 20);
  if (!text.ok()) return text.error();
  auto json = parse_json(text.value().data(), text.value().size(), cfg_path);
  if (!json.ok()) return json.error();
  auto cfg = config_from_hf(json.value(), cfg_path);
  if (!cfg.ok()) return cfg.error();
  m->cfg = cfg.value();
  auto set = read_safetensors_dir(m->path, hold);
  if (!set.ok()) return set.error();
  m->tensors = std::move(set.value());
  return Status();
}

Status load_gguf(Model* m, FileHold hold) {
  auto g = read_gguf(m->path, hold);
  if (!g.ok()) return g.error();
  auto cfg = config_from_gguf(*g.value(), m->path);
  if (!cfg.ok()) return cfg.error();
  m->cfg = cfg.value();
  m->tensors = std::move(g.value()->tensors);
  if (const TensorInfo* rf = m->tensors.find("rope_freqs.weight")) {
    Status st = rope_freqs_to_llama3(*rf, &m->cfg, *g.value());
    if (!st.ok()) return st;
  }
  return Status();
}

}  // namespace

Model::Model() : scratch(std::make_unique<ForwardScratch>()) {}
Model::~Model() {
  if (owns_pool) cpu::destroy_pool(pool);
}

namespace {

// Drops the row bytes [p, p + n) of a matrix that now lives packed: the
// whole pages inside the range go back to the system when the file was
// read into memory (a mapped file's pages are page cache, reclaimable, and
// are simply never read again).
void release_rows(const Model& m, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (const auto& f : m.tensors.files) {
    if (!f->copied() || b < f->data() || b + n > f->data() + f->size()) continue;
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const uintptr_t lo = (reinterpret_cast<uintptr_t>(b) + page - 1) & ~(page - 1);
    const uintptr_t hi = (reinterpret_cast<uintptr_t>(b) + n) & ~(page - 1);
    if (hi <= lo) return;
    // Files do not promise that tensors never overlap: keep the pages if
    // any other tensor's bytes fall inside them.
    for (const auto& [name, t] : m.tensors.tensors) {
      const auto t0 = reinterpret_cast<uintptr_t>(t.data), t1 = t0 + t.nbytes;
      if (t.data != b && t0 < hi && t1 > lo) return;
    }
    // Invariant: [lo, hi) is whole pages inside this file's private
    // anonymous copy holding only this matrix's bytes, which nothing reads
    // again (the view's data is null); madvise failing changes nothing.
    madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
    return;
  }
}

// The CPU's AVX-512 kernels read a 16-row interleaved copy of each Q8_0,
// F16 or BF16 matrix (cpu::pack_weights: one sequential stream per thread
// and one vector op per 16 rows; bench/README.md has the gains). Once a
// matrix is packed its row bytes are dropped, except where another view
// still reads them (a tied lm_head is the embedding, which the gather
// reads by rows). Every level has a kernel for the packed layout, so a
// test that lowers the SIMD level still runs the model. Packing is skipped,
// and everything runs from the row layout, when this CPU has no SIMD packed
// kernel for the dtype or the memory cannot be had.
bool to_pack(const WeightView& v) { return cpu::packable(v) && cpu::packed_kernel(v.dtype); }

void pack_cpu_weights(Model* m) {
  const std::vector<WeightView*> views = step_matrices(*m);
  size_t total = 0;
  std::vector<size_t> offset;
  for (WeightView* v : views) {
    offset.push_back(total);
    if (!to_pack(*v)) continue;
    // 64-byte aligned starts; sizes are products of validated shapes.
    total += (static_cast<size_t>(dtype_row_bytes(v->dtype, v->cols)) * static_cast<size_t>(v->rows) + 63) & ~size_t{63};
  }
  if (total == 0) return;
  HugeRegion mem(total);
  uint8_t* base = mem.data();
  if (base == nullptr) return;  // the row layout serves
  // Every matrix view's row bytes, before any is released.
  auto span = [](const WeightView& v) {
    const auto lo = reinterpret_cast<uintptr_t>(v.data);
    return std::make_pair(lo, lo + dtype_row_bytes(v.dtype, v.cols) * static_cast<size_t>(v.rows));
  };
  std::vector<std::pair<uintptr_t, uintptr_t>> spans;
  for (WeightView* v : views) spans.push_back(span(*v));
  spans.push_back(span(m->embed));
  for (size_t i = 0; i < views.size(); ++i) {
    WeightView* v = views[i];
    if (!to_pack(*v)) continue;
    uint8_t* dst = base + offset[i];
    // Groups are independent: the load-time pool packs them side by side.
    cpu::parallel_for(cpu::default_pool(), v->rows / cpu::kPackRows,
                      [&](int64_t g0, int64_t g1, int) { cpu::pack_weights(*v, dst, g0, g1); });
    v->packed = dst;
  }
  // Rows no other view reads go (a tied lm_head shares the embedding's,
  // which the gather reads by rows).
  for (size_t i = 0; i < views.size(); ++i) {
    WeightView* v = views[i];
    if (v->packed == nullptr) continue;
    bool shared = false;
    for (size_t k = 0; k < spans.size(); ++k) {
      shared = shared || (k != i && spans[k].first < spans[i].second && spans[k].second > spans[i].first);
    }
    if (shared) continue;
    release_rows(*m, v->data, spans[i].second - spans[i].first);
    v->data = nullptr;
  }
  m->packed_mem = std::move(mem);
  m->packed_bytes = total;
}

}  // namespace

std::vector<WeightView*> step_matrices(Model& m) {
  std::vector<WeightView*> views;
  views.reserve(m.layers.size() * 7 + 1);
  for (LayerWeights& w : m.layers) {
    for (WeightView* v : {&w.q, &w.k, &w.v, &w.o, &w.gate, &w.up, &w.down}) views.push_back(v);
  }
  views.push_back(&m.lm_head);
  return views;
}

std::vector<int32_t> step_gemv_tasks(const Model& m) {
  std::vector<int32_t> tasks;
  tasks.reserve(m.layers.size() * std::size(kLayerGemvTasks) + 1);
  for (size_t l = 0; l < m.layers.size(); ++l) {
    for (const int32_t n : kLayerGemvTasks) tasks.push_back(n);
  }
  tasks.push_back(1);
  return tasks;
}

void set_model_threads(Model* m, int32_t threads) {
  m->threads = threads;
  cpu::ThreadPool* def = cpu::default_pool();
  if (threads > 0 && threads != cpu::pool_threads(def)) {
    m->pool = cpu::create_pool(threads);
    m->owns_pool = true;
  } else {
    m->pool = def;
  }
}

Result<std::shared_ptr<Model>> load_model(const std::string& path, FileHold hold) {
  auto m = std::make_shared<Model>();
  m->id = g_next_model_id++;
  m->path = path;
  Status st;
  if (is_directory(path)) {
    st = load_hf(m.get(), hold);
  } else if (file_exists(path) && ends_with(path, ".gguf")) {
    st = load_gguf(m.get(), hold);
  } else if (file_exists(path)) {
    return make_err(Code::UNSUPPORTED, "not a model directory nor a .gguf file", path);
  } else {
    return make_err(Code::NOT_FOUND, "no such file or directory", path);
  }
  if (!st.ok()) return st.error();
  st = bind_weights(m.get());
  if (!st.ok()) return st.error();
  if (hold == FileHold::Weights) pack_cpu_weights(m.get());
  set_model_threads(m.get(), 0);
  return m;
}

}  // namespace hs
