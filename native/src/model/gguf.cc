#include "model/gguf.h"

#include <algorithm>
#include <cstring>

namespace hs {

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16: case GgufType::U32:
    case GgufType::I32: case GgufType::U64: case GgufType::I64: case GgufType::BOOL:
      return true;
    default:
      return false;
  }
}

double GgufValue::as_double() const {
  if (is_float()) return f;
  switch (type) {
    case GgufType::I8: case GgufType::I16: case GgufType::I32: case GgufType::I64:
      return static_cast<double>(i);
    default:
      return static_cast<double>(u);
  }
}

int64_t GgufValue::as_int() const {
  if (is_float()) return static_cast<int64_t>(f);
  switch (type) {
    case GgufType::I8: case GgufType::I16: case GgufType::I32: case GgufType::I64:
      return i;
    default:
      return static_cast<int64_t>(u);
  }
}

const GgufValue* GgufFile::get(const std::string& key) const {
  auto it = index.find(key);
  return it == index.end() ? nullptr : &values[it->second];
}

namespace {

constexpr int kMaxArrayDepth = 8;

uint64_t fixed_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
  }
}

// The fewest file bytes one element of type t takes: a string its u64
// length, a nested array its u32 type and u64 count.
uint64_t min_size(GgufType t) {
  if (t == GgufType::STRING) return 8;
  if (t == GgufType::ARRAY) return 12;
  return fixed_size(t);
}

// Reads through the mapping. Failures keep the first message, which names
// the key or tensor (`label`) and what of it ran past the end; building that
// text only on failure keeps a walk over millions of elements cheap.
class Reader {
 public:
  explicit Reader(const MappedFile& f) : f_(f) {}

  uint64_t pos() const { return pos_; }
  void seek(uint64_t p) { pos_ = p; }
  const std::string& error() const { return msg_; }

  // Invariant of every read: contains(pos_, n) is checked before memcpy.
  bool raw(void* out, uint64_t n, const std::string& label, const char* part) {
    if (!f_.contains(pos_, n)) {
      return fail(label + (*part != '\0' ? std::string(": ") + part : std::string()) + " runs past the end of the file");
    }
    std::memcpy(out, f_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  // A length-prefixed string; s == nullptr skips it (still range-checked).
  bool str(std::string* s, const std::string& label) {
    uint64_t n = 0;
    if (!raw(&n, 8, label, "string length")) return false;
    if (!f_.contains(pos_, n)) {
      return fail(label + ": string of " + std::to_string(n) + " bytes runs past the end of the file");
    }
    // Invariant: [pos_, pos_ + n) is inside the mapping (checked just above).
    if (s != nullptr) s->assign(reinterpret_cast<const char*>(f_.data() + pos_), static_cast<size_t>(n));
    pos_ += n;
    return true;
  }

  // One value of type t. An array is validated and stepped over: `v` gets
  // its element type, count and offset, never its elements.
  bool value(GgufType t, GgufValue* v, const std::string& label, int depth) {
    v->type = t;
    switch (t) {
      case GgufType::U8: case GgufType::BOOL: { uint8_t x; if (!raw(&x, 1, label, "")) return false; v->u = x; v->i = x; return true; }
      case GgufType::I8: { int8_t x; if (!raw(&x, 1, label, "")) return false; v->i = x; return true; }
      case GgufType::U16: { uint16_t x; if (!raw(&x, 2, label, "")) return false; v->u = x; v->i = x; return true; }
      case GgufType::I16: { int16_t x; if (!raw(&x, 2, label, "")) return false; v->i = x; return true; }
      case GgufType::U32: { uint32_t x; if (!raw(&x, 4, label, "")) return false; v->u = x; v->i = x; return true; }
      case GgufType::I32: { int32_t x; if (!raw(&x, 4, label, "")) return false; v->i = x; return true; }
      case GgufType::U64: { uint64_t x; if (!raw(&x, 8, label, "")) return false; v->u = x; v->i = static_cast<int64_t>(x); return true; }
      case GgufType::I64: { int64_t x; if (!raw(&x, 8, label, "")) return false; v->i = x; return true; }
      case GgufType::F32: { float x; if (!raw(&x, 4, label, "")) return false; v->f = x; return true; }
      case GgufType::F64: { double x; if (!raw(&x, 8, label, "")) return false; v->f = x; return true; }
      case GgufType::STRING: return str(&v->s, label);
      case GgufType::ARRAY: return array(v, label, depth);
    }
    return fail(label + ": unknown value type " + std::to_string(static_cast<uint32_t>(t)));
  }

  bool array(GgufValue* v, const std::string& label, int depth) {
    if (depth >= kMaxArrayDepth) return fail(label + ": arrays nested too deeply");
    uint32_t et = 0;
    if (!raw(&et, 4, label, "array element type")) return false;
    if (et > static_cast<uint32_t>(GgufType::F64)) {
      return fail(label + ": unknown array element type " + std::to_string(et));
    }
    v->elem_type = static_cast<GgufType>(et);
    if (!raw(&v->count, 8, label, "array length")) return false;
    v->offset = pos_;
    // Every element takes at least min_size bytes: a count larger than the
    // rest of the file can hold is corrupt.
    uint64_t need = 0;
    if (!checked_mul(v->count, min_size(v->elem_type), &need) || !f_.contains(pos_, need)) {
      return fail(label + ": array of " + std::to_string(v->count) + " elements runs past the end of the file (" +
                  std::to_string(f_.size() - pos_) + " bytes left)");
    }
    if (fixed_size(v->elem_type) != 0) {
      pos_ += need;  // fixed-size elements: range-checked above
      return true;
    }
    GgufValue tmp;  // one element at a time, never kept
    for (uint64_t k = 0; k < v->count; ++k) {
      bool ok = v->elem_type == GgufType::STRING ? str(nullptr, label) : array(&tmp, label, depth + 1);
      if (!ok) return element_failed(k);
    }
    return true;
  }

 private:
  bool fail(const std::string& m) {
    if (msg_.empty()) msg_ = m;
    return false;
  }
  // Adds the index of the innermost failing element to the message.
  bool element_failed(uint64_t k) {
    if (!element_noted_) msg_ += " (element " + std::to_string(k) + ")";
    element_noted_ = true;
    return false;
  }
  const MappedFile& f_;
  uint64_t pos_ = 0;
  std::string msg_;
  bool element_noted_ = false;
};

// ggml type ids this build computes with; others are kept as unsupported
// entries so only a model that actually uses them fails.
bool ggml_type(uint32_t id, DType* t, std::string* label) {
  switch (id) {
    case 0: *t = DType::F32; *label = "F32"; return true;
    case 1: *t = DType::F16; *label = "F16"; return true;
    case 8: *t = DType::Q8_0; *label = "Q8_0"; return true;
    case 30: *t = DType::BF16; *label = "BF16"; return true;
    default: *label = "ggml_type_" + std::to_string(id); return false;
  }
}

// Elements per block and bytes per block of the ggml types whose sizes are
// known here (ggml.c's type traits); false for any other id.
bool ggml_block(uint32_t id, uint64_t* elems, uint64_t* bytes) {
  struct B { uint32_t id; uint64_t elems, bytes; };
  static constexpr B kBlocks[] = {
      {0, 1, 4},      {1, 1, 2},      {2, 32, 18},    {3, 32, 20},    {6, 32, 22},  {7, 32, 24},  {8, 32, 34},
      {9, 32, 36},    {10, 256, 84},  {11, 256, 110}, {12, 256, 144}, {13, 256, 176}, {14, 256, 210},
      {15, 256, 292}, {24, 1, 1},     {25, 1, 2},     {26, 1, 4},     {27, 1, 8},   {28, 1, 8},   {30, 1, 2},
  };
  for (const B& b : kBlocks) {
    if (b.id == id) {
      *elems = b.elems;
      *bytes = b.bytes;
      return true;
    }
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<GgufFile>> read_gguf(const std::string& path, FileHold hold) {
  auto m = MappedFile::open(path, hold);
  if (!m.ok()) return m.error();
  std::shared_ptr<MappedFile> f = m.value();
  auto out = std::make_unique<GgufFile>();
  out->file = f;
  Reader r(*f);
  auto fail = [&](const std::string& msg) { return make_err(Code::BAD_FORMAT, msg, path); };

  char magic[4];
  if (!r.raw(magic, 4, "header field 'magic'", "")) return fail(r.error());
  if (std::memcmp(magic, "GGUF", 4) != 0) return fail("header field 'magic': not a GGUF file (bad magic)");
  if (!r.raw(&out->version, 4, "header field 'version'", "")) return fail(r.error());
  if (out->version != 2 && out->version != 3) {
    return make_err(Code::UNSUPPORTED, "header field 'version': GGUF version " + std::to_string(out->version) + " (2 and 3 are read)", path);
  }
  uint64_t n_tensors = 0, n_kv = 0;
  if (!r.raw(&n_tensors, 8, "header field 'tensor_count'", "") || !r.raw(&n_kv, 8, "header field 'metadata_kv_count'", "")) {
    return fail(r.error());
  }
  // Each kv takes >= 12 bytes and each tensor info >= 24: reject counts the file cannot hold.
  if (n_kv > f->size() / 12 || n_tensors > f->size() / 24) {
    return fail("header fields 'tensor_count'/'metadata_kv_count' (" + std::to_string(n_tensors) + "/" + std::to_string(n_kv) +
                ") are larger than the file can hold");
  }
  // Grown per entry read (not sized from the counts): memory follows the
  // bytes actually parsed, and a corrupt count fails at the first bad entry.
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    // A bad key is often the previous value's fault (a corrupt array count): name both.
    if (!r.str(&key, "header field 'metadata[" + std::to_string(k) + "] key'" +
                         (k > 0 ? " (after '" + out->keys.back() + "')" : std::string()))) {
      return fail(r.error());
    }
    const std::string label = "header field '" + key + "'";
    auto [it, fresh] = out->index.emplace(key, out->keys.size());
    if (!fresh) {
      // llama.cpp (gguf_init_from_file) refuses duplicate keys too.
      return fail(label + ": the key appears twice (metadata[" + std::to_string(it->second) + "] and metadata[" +
                  std::to_string(k) + "])");
    }
    uint32_t t = 0;
    if (!r.raw(&t, 4, label, "value type")) return fail(r.error());
    GgufValue v;
    if (!r.value(static_cast<GgufType>(t), &v, label, 0)) return fail(r.error());
    out->keys.push_back(std::move(key));
    out->values.push_back(std::move(v));
  }

  uint64_t alignment = 32;
  if (const GgufValue* a = out->get("general.alignment")) {
    if (!a->is_integer() || a->as_int() <= 0 || a->as_int() > (1ll << 30) || (a->as_int() & (a->as_int() - 1)) != 0) {
      return fail("header field 'general.alignment': not a power of two");
    }
    alignment = static_cast<uint64_t>(a->as_int());
  }

  struct Pending {
    TensorInfo info;
    uint64_t offset = 0;
    uint64_t span = 0;        // bytes of data, when span_known
    bool span_known = false;  // the ggml type's block size is known
  };
  std::vector<Pending> pending;
  pending.reserve(static_cast<size_t>(std::min<uint64_t>(n_tensors, 4096)));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    Pending p;
    if (!r.str(&p.info.name, "header field 'tensor_info[" + std::to_string(k) + "] name'")) return fail(r.error());
    const std::string label = "tensor '" + p.info.name + "'";
    uint32_t n_dims = 0;
    if (!r.raw(&n_dims, 4, label, "n_dims")) return fail(r.error());
    if (n_dims == 0 || n_dims > 4) return fail(label + ": n_dims " + std::to_string(n_dims) + " is not in 1..4");
    uint64_t ne[4] = {1, 1, 1, 1};
    for (uint32_t d = 0; d < n_dims; ++d) {
      if (!r.raw(&ne[d], 8, label, "dims")) return fail(r.error());
      if (ne[d] > (1ull << 40)) return fail(label + ": dimension " + std::to_string(ne[d]) + " is not plausible");
    }
    uint32_t type = 0;
    if (!r.raw(&type, 4, label, "type") || !r.raw(&p.offset, 8, label, "offset")) return fail(r.error());
    p.info.file = path;
    p.info.supported = ggml_type(type, &p.info.dtype, &p.info.dtype_label);
    // GGUF lists dims innermost first; TensorInfo keeps row-major order.
    for (uint32_t d = n_dims; d-- > 0;) p.info.shape.push_back(static_cast<int64_t>(ne[d]));
    uint64_t count = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      if (!checked_mul(count, ne[d], &count)) return fail(label + ": element count overflows");
    }
    uint64_t blk = 0, blk_bytes = 0;
    p.span_known = ggml_block(type, &blk, &blk_bytes);
    if (p.span_known) {
      if (ne[0] % blk != 0) {
        return fail(label + ": " + p.info.dtype_label + " row length " + std::to_string(ne[0]) + " is not a multiple of " +
                    std::to_string(blk));
      }
      if (!checked_mul(count / blk, blk_bytes, &p.span)) return fail(label + ": size overflows");
    }
    if (p.info.supported) p.info.nbytes = p.span;  // every supported type has a known block
    pending.push_back(std::move(p));
  }
  uint64_t data_start = r.pos();
  if (data_start % alignment != 0) data_start += alignment - data_start % alignment;
  // llama.cpp's layout rule (gguf_init_from_file): each tensor's data starts
  // where the previous one's, padded to the alignment, ends, in header
  // order. Checked while every size so far is known.
  uint64_t expect = 0, data_end = data_start;
  bool layout_known = true;
  for (Pending& p : pending) {
    const std::string label = "tensor '" + p.info.name + "'";
    if (p.offset % alignment != 0) return fail(label + ": data offset " + std::to_string(p.offset) + " is not aligned");
    uint64_t abs = 0;
    if (!checked_add(data_start, p.offset, &abs) || !f->contains(abs, p.span)) {
      return fail(label + ": data [" + std::to_string(p.offset) + ", +" + std::to_string(p.span) +
                  ") runs past the end of the file (size " + std::to_string(f->size()) + "): truncated or corrupt");
    }
    layout_known = layout_known && p.span_known;
    if (layout_known) {
      if (p.offset != expect) {
        return fail(label + ": data offset " + std::to_string(p.offset) + ", expected " + std::to_string(expect) +
                    " (tensor data must follow in header order): a corrupt offset or tensor info");
      }
      data_end = abs + p.span;  // inside the file (checked above)
      expect += p.span + (alignment - p.span % alignment) % alignment;  // <= file size + alignment: no overflow
    }
    if (p.info.supported) {
      // Invariant: [abs, abs + nbytes) is inside the mapping (checked just above).
      p.info.data = f->data() + abs;
    }
    if (out->tensors.tensors.count(p.info.name) != 0) return fail(label + ": defined twice");
    std::string name = p.info.name;
    out->tensors.tensors.emplace(name, std::move(p.info));
  }
  // Only the last tensor's padding may follow its data: more means tensors
  // the header does not list (a wrong tensor_count) or a shifted data section.
  if (layout_known && !pending.empty() && f->size() - data_end >= alignment) {
    return fail("header field 'tensor_count' = " + std::to_string(n_tensors) + ": the tensor data ends at byte " +
                std::to_string(data_end) + " but the file has " + std::to_string(f->size()) + " (" +
                std::to_string(f->size() - data_end) + " bytes unaccounted for): a tensor info is missing or the file is corrupt");
  }
  out->tensors.files.push_back(std::move(f));
  return out;
}

Status gguf_array_items(const GgufFile& g, const GgufValue& a, const std::function<void(const GgufValue&)>& fn) {
  if (a.type != GgufType::ARRAY || !g.file || !g.file->contains(a.offset, 0)) {
    return make_err(Code::INTERNAL, "gguf_array_items: not an array of this file", g.file ? g.file->path() : "");
  }
  Reader r(*g.file);
  r.seek(a.offset);
  GgufValue v;
  for (uint64_t k = 0; k < a.count; ++k) {
    // read_gguf walked these very bytes; depth 1 only bounds nesting again.
    if (!r.value(a.elem_type, &v, "array element", 1)) return make_err(Code::BAD_FORMAT, r.error(), g.file->path());
    fn(v);
  }
  return Status();
}

}  // namespace hs
