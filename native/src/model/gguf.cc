#include "model/gguf.h"

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
  for (size_t k = 0; k < keys.size(); ++k) {
    if (keys[k] == key) return &values[k];
  }
  return nullptr;
}

namespace {

constexpr int kMaxArrayDepth = 8;
constexpr uint64_t kKeepArrayLimit = 64;  // arrays this small are always kept

class Reader {
 public:
  Reader(const MappedFile& f, bool keep) : f_(f), keep_(keep) {}

  uint64_t pos() const { return pos_; }
  void seek(uint64_t p) { pos_ = p; }
  const std::string& error() const { return msg_; }

  // Invariant of every read: contains(pos_, n) is checked before memcpy.
  bool raw(void* out, uint64_t n, const std::string& field) {
    if (!f_.contains(pos_, n)) return fail("header field '" + field + "' runs past the end of the file");
    std::memcpy(out, f_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool u32(uint32_t* v, const std::string& field) { return raw(v, 4, field); }
  bool u64(uint64_t* v, const std::string& field) { return raw(v, 8, field); }
  bool str(std::string* s, const std::string& field) {
    uint64_t n = 0;
    if (!u64(&n, field + " (length)")) return false;
    if (!f_.contains(pos_, n)) {
      return fail("header field '" + field + "': string of " + std::to_string(n) + " bytes runs past the end of the file");
    }
    s->assign(reinterpret_cast<const char*>(f_.data() + pos_), static_cast<size_t>(n));
    pos_ += n;
    return true;
  }
  bool skip_str(const std::string& field) {
    uint64_t n = 0;
    if (!u64(&n, field + " (length)")) return false;
    if (!f_.contains(pos_, n)) return fail("header field '" + field + "': string runs past the end of the file");
    pos_ += n;
    return true;
  }

  bool value(GgufType t, GgufValue* v, const std::string& field, int depth) {
    v->type = t;
    switch (t) {
      case GgufType::U8: case GgufType::BOOL: { uint8_t x; if (!raw(&x, 1, field)) return false; v->u = x; v->i = x; return true; }
      case GgufType::I8: { int8_t x; if (!raw(&x, 1, field)) return false; v->i = x; return true; }
      case GgufType::U16: { uint16_t x; if (!raw(&x, 2, field)) return false; v->u = x; v->i = x; return true; }
      case GgufType::I16: { int16_t x; if (!raw(&x, 2, field)) return false; v->i = x; return true; }
      case GgufType::U32: { uint32_t x; if (!raw(&x, 4, field)) return false; v->u = x; v->i = x; return true; }
      case GgufType::I32: { int32_t x; if (!raw(&x, 4, field)) return false; v->i = x; return true; }
      case GgufType::U64: { uint64_t x; if (!raw(&x, 8, field)) return false; v->u = x; v->i = static_cast<int64_t>(x); return true; }
      case GgufType::I64: { int64_t x; if (!raw(&x, 8, field)) return false; v->i = x; return true; }
      case GgufType::F32: { float x; if (!raw(&x, 4, field)) return false; v->f = x; return true; }
      case GgufType::F64: { double x; if (!raw(&x, 8, field)) return false; v->f = x; return true; }
      case GgufType::STRING: return str(&v->s, field);
      case GgufType::ARRAY: return array(v, field, depth);
    }
    return fail("header field '" + field + "': unknown value type " + std::to_string(static_cast<uint32_t>(t)));
  }

  static uint64_t fixed_size(GgufType t) {
    switch (t) {
      case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
      case GgufType::U16: case GgufType::I16: return 2;
      case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
      case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
      default: return 0;
    }
  }

  bool array(GgufValue* v, const std::string& field, int depth) {
    if (depth >= kMaxArrayDepth) return fail("header field '" + field + "': arrays nested too deeply");
    uint32_t et = 0;
    if (!u32(&et, field + " (array type)")) return false;
    if (et > static_cast<uint32_t>(GgufType::F64)) {
      return fail("header field '" + field + "': unknown array element type " + std::to_string(et));
    }
    v->elem_type = static_cast<GgufType>(et);
    if (!u64(&v->count, field + " (array length)")) return false;
    // Every element takes at least one byte (strings 8): a count larger than
    // the rest of the file is corrupt, and checking first avoids a huge reserve.
    uint64_t min_elem = v->elem_type == GgufType::STRING ? 8 : (v->elem_type == GgufType::ARRAY ? 12 : fixed_size(v->elem_type));
    uint64_t need = 0;
    if (!checked_mul(v->count, min_elem, &need) || !f_.contains(pos_, need)) {
      return fail("header field '" + field + "': array of " + std::to_string(v->count) + " elements runs past the end of the file");
    }
    bool keep = keep_ || v->count <= kKeepArrayLimit;
    uint64_t fs = fixed_size(v->elem_type);
    if (!keep && fs != 0) {
      pos_ += need;  // fixed-size elements: already range-checked above
      return true;
    }
    if (keep) v->items.resize(static_cast<size_t>(v->count));
    for (uint64_t k = 0; k < v->count; ++k) {
      if (!keep && v->elem_type == GgufType::STRING) {
        if (!skip_str(field)) return false;
        continue;
      }
      GgufValue tmp;
      GgufValue* dst = keep ? &v->items[static_cast<size_t>(k)] : &tmp;
      if (!value(v->elem_type, dst, field + "[" + std::to_string(k) + "]", depth + 1)) return false;
    }
    return true;
  }

 private:
  bool fail(const std::string& m) {
    if (msg_.empty()) msg_ = m;
    return false;
  }
  const MappedFile& f_;
  bool keep_;
  uint64_t pos_ = 0;
  std::string msg_;
};

// ggml type ids this build reads; others are kept as unsupported entries so
// only a model that actually uses them fails.
bool ggml_type(uint32_t id, DType* t, std::string* label) {
  switch (id) {
    case 0: *t = DType::F32; *label = "F32"; return true;
    case 1: *t = DType::F16; *label = "F16"; return true;
    case 8: *t = DType::Q8_0; *label = "Q8_0"; return true;
    case 30: *t = DType::BF16; *label = "BF16"; return true;
    default: *label = "ggml_type_" + std::to_string(id); return false;
  }
}

}  // namespace

Result<std::unique_ptr<GgufFile>> read_gguf(const std::string& path, bool keep_arrays, FileHold hold) {
  auto m = MappedFile::open(path, hold);
  if (!m.ok()) return m.error();
  std::shared_ptr<MappedFile> f = m.value();
  auto out = std::make_unique<GgufFile>();
  Reader r(*f, keep_arrays);
  auto fail = [&](const std::string& msg) { return make_err(Code::BAD_FORMAT, msg, path); };

  char magic[4];
  if (!r.raw(magic, 4, "magic")) return fail(r.error());
  if (std::memcmp(magic, "GGUF", 4) != 0) return fail("header field 'magic': not a GGUF file (bad magic)");
  if (!r.u32(&out->version, "version")) return fail(r.error());
  if (out->version != 2 && out->version != 3) {
    return make_err(Code::UNSUPPORTED, "header field 'version': GGUF version " + std::to_string(out->version) + " (2 and 3 are read)", path);
  }
  uint64_t n_tensors = 0, n_kv = 0;
  if (!r.u64(&n_tensors, "tensor_count") || !r.u64(&n_kv, "metadata_kv_count")) return fail(r.error());
  // Each kv takes >= 12 bytes and each tensor info >= 24: reject counts the file cannot hold.
  if (n_kv > f->size() / 12 || n_tensors > f->size() / 24) {
    return fail("header fields 'tensor_count'/'metadata_kv_count' (" + std::to_string(n_tensors) + "/" + std::to_string(n_kv) +
                ") are larger than the file can hold");
  }
  out->keys.resize(static_cast<size_t>(n_kv));
  out->values.resize(static_cast<size_t>(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string field = "metadata[" + std::to_string(k) + "]";
    if (!r.str(&out->keys[k], field + " key")) return fail(r.error());
    field = out->keys[k];
    uint32_t t = 0;
    if (!r.u32(&t, field + " (type)")) return fail(r.error());
    if (!r.value(static_cast<GgufType>(t), &out->values[k], field, 0)) return fail(r.error());
  }

  uint64_t alignment = 32;
  if (const GgufValue* a = out->get("general.alignment")) {
    if (!a->is_integer() || a->as_int() <= 0 || (a->as_int() & (a->as_int() - 1)) != 0) {
      return fail("header field 'general.alignment': not a power of two");
    }
    alignment = static_cast<uint64_t>(a->as_int());
  }

  struct Pending { TensorInfo info; uint64_t offset; };
  std::vector<Pending> pending(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    Pending& p = pending[k];
    std::string field = "tensor_info[" + std::to_string(k) + "]";
    if (!r.str(&p.info.name, field + " name")) return fail(r.error());
    field = "tensor '" + p.info.name + "'";
    uint32_t n_dims = 0;
    if (!r.u32(&n_dims, "n_dims of " + field)) return fail(r.error());
    if (n_dims == 0 || n_dims > 4) return fail(field + ": n_dims " + std::to_string(n_dims) + " is not in 1..4");
    std::vector<uint64_t> ne(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      if (!r.u64(&ne[d], "dims of " + field)) return fail(r.error());
      if (ne[d] > (1ull << 40)) return fail(field + ": dimension " + std::to_string(ne[d]) + " is not plausible");
    }
    uint32_t type = 0;
    if (!r.u32(&type, "type of " + field) || !r.u64(&p.offset, "offset of " + field)) return fail(r.error());
    p.info.file = path;
    p.info.supported = ggml_type(type, &p.info.dtype, &p.info.dtype_label);
    // GGUF lists dims innermost first; TensorInfo keeps row-major order.
    for (uint32_t d = n_dims; d-- > 0;) p.info.shape.push_back(static_cast<int64_t>(ne[d]));
    uint64_t count = 1;
    for (uint64_t d : ne) {
      if (!checked_mul(count, d, &count)) return fail(field + ": element count overflows");
    }
    if (p.info.supported) {
      if (p.info.dtype == DType::Q8_0) {
        if (ne[0] % 32 != 0) return fail(field + ": Q8_0 row length " + std::to_string(ne[0]) + " is not a multiple of 32");
        p.info.nbytes = count / 32 * sizeof(BlockQ8_0);
      } else {
        if (!checked_mul(count, p.info.dtype == DType::F32 ? 4 : 2, &p.info.nbytes)) return fail(field + ": size overflows");
      }
    }
  }
  uint64_t data_start = r.pos();
  if (data_start % alignment != 0) data_start += alignment - data_start % alignment;
  for (Pending& p : pending) {
    const std::string field = "tensor '" + p.info.name + "'";
    if (p.offset % alignment != 0) return fail(field + ": data offset " + std::to_string(p.offset) + " is not aligned");
    uint64_t abs = 0;
    if (!checked_add(data_start, p.offset, &abs) || !f->contains(abs, p.info.nbytes)) {
      return fail(field + ": data [" + std::to_string(p.offset) + ", +" + std::to_string(p.info.nbytes) +
                  ") runs past the end of the file (size " + std::to_string(f->size()) + "): truncated or corrupt");
    }
    if (p.info.supported) {
      // Invariant: [abs, abs + nbytes) is inside the mapping (checked just above).
      p.info.data = f->data() + abs;
    }
    if (out->tensors.tensors.count(p.info.name) != 0) return fail(field + ": defined twice");
    std::string name = p.info.name;
    out->tensors.tensors.emplace(name, std::move(p.info));
  }
  out->tensors.files.push_back(std::move(f));
  return out;
}

}  // namespace hs
