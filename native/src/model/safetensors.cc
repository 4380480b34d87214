#include "model/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <tuple>
#include <vector>

#include "model/json.h"

namespace hs {

namespace {

constexpr uint64_t kMaxHeader = 256ull << 20;  // far above any real header

bool parse_dtype(const std::string& s, DType* t, uint64_t* elem) {
  if (s == "F32") { *t = DType::F32; *elem = 4; return true; }
  if (s == "F16") { *t = DType::F16; *elem = 2; return true; }
  if (s == "BF16") { *t = DType::BF16; *elem = 2; return true; }
  return false;
}

uint64_t other_dtype_size(const std::string& s) {
  if (s == "F64" || s == "I64" || s == "U64") return 8;
  if (s == "I32" || s == "U32") return 4;
  if (s == "I16" || s == "U16") return 2;
  if (s == "I8" || s == "U8" || s == "BOOL" || s == "F8_E4M3" || s == "F8_E5M2") return 1;
  return 0;
}

std::string num_str(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

Status bad(const std::string& file, const std::string& tensor, const std::string& msg) {
  return make_err(Code::BAD_FORMAT, "tensor '" + tensor + "': " + msg, file);
}

}  // namespace

Status read_safetensors_file(const std::string& path, TensorSet* set, FileHold hold) {
  auto m = MappedFile::open(path, hold);
  if (!m.ok()) return m.error();
  std::shared_ptr<MappedFile> f = m.value();
  if (!f->contains(0, 8)) {
    return make_err(Code::BAD_FORMAT, "header field 'header_len': file shorter than 8 bytes", path);
  }
  uint64_t hlen = 0;
  std::memcpy(&hlen, f->data(), 8);  // little-endian on every supported host
  if (hlen > kMaxHeader || !f->contains(8, hlen)) {
    return make_err(Code::BAD_FORMAT,
                    "header field 'header_len' = " + std::to_string(hlen) + " runs past the end of the file (size " +
                        std::to_string(f->size()) + ")",
                    path);
  }
  auto parsed = parse_json(reinterpret_cast<const char*>(f->data() + 8), hlen, path);
  if (!parsed.ok()) return parsed.error();
  const Json& h = parsed.value();
  if (!h.is_object()) return make_err(Code::BAD_FORMAT, "header is not a JSON object", path);
  const uint64_t data_start = 8 + hlen;
  const uint64_t data_size = f->size() - data_start;  // contains() above guarantees no underflow
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> spans;  // [begin, end), name: the coverage check below

  for (size_t i = 0; i < h.keys.size(); ++i) {
    const std::string& name = h.keys[i];
    if (name == "__metadata__") continue;
    const Json& e = h.items[i];
    const Json* dt = e.get("dtype");
    const Json* shape = e.get("shape");
    const Json* offs = e.get("data_offsets");
    if (dt == nullptr || !dt->is_string()) return bad(path, name, "missing or invalid 'dtype'");
    if (shape == nullptr || !shape->is_array()) return bad(path, name, "missing or invalid 'shape'");
    if (offs == nullptr || !offs->is_array() || offs->items.size() != 2 || !offs->items[0].is_number() ||
        !offs->items[1].is_number()) {
      return bad(path, name, "missing or invalid 'data_offsets'");
    }
    TensorInfo t;
    t.name = name;
    t.file = path;
    t.dtype_label = dt->str;
    uint64_t elem = 0;
    t.supported = parse_dtype(dt->str, &t.dtype, &elem);
    if (!t.supported) elem = other_dtype_size(dt->str);
    if (elem == 0) return bad(path, name, "unknown dtype '" + dt->str + "'");
    uint64_t count = 1;
    for (const Json& d : shape->items) {
      if (!d.is_number() || d.number < 0 || d.number > 9.0e15 || d.number != static_cast<double>(static_cast<int64_t>(d.number))) {
        return bad(path, name, "invalid dimension in 'shape'");
      }
      t.shape.push_back(static_cast<int64_t>(d.number));
      if (!checked_mul(count, static_cast<uint64_t>(d.number), &count)) return bad(path, name, "shape overflows");
    }
    double b = offs->items[0].number, en = offs->items[1].number;
    // Integers only (a fraction would be truncated into a shifted read), and
    // exact in a double.
    if (!(b >= 0) || !(en >= b) || en > 9007199254740992.0 || std::floor(b) != b || std::floor(en) != en) {
      return bad(path, name, "invalid 'data_offsets' [" + num_str(b) + ", " + num_str(en) +
                                 "]: not integers with 0 <= begin <= end");
    }
    uint64_t begin = static_cast<uint64_t>(b), end = static_cast<uint64_t>(en);
    uint64_t need = 0;
    if (!checked_mul(count, elem, &need)) return bad(path, name, "size overflows");
    if (end - begin != need) {
      return bad(path, name,
                 "data_offsets span " + std::to_string(end - begin) + " bytes but dtype " + dt->str + " x shape " +
                     shape_str(t.shape) + " needs " + std::to_string(need));
    }
    if (end > data_size) {
      return bad(path, name,
                 "data [" + std::to_string(begin) + ", " + std::to_string(end) + ") runs past the end of the data section (" +
                     std::to_string(data_size) + " bytes): the file is truncated or corrupt");
    }
    // Invariant: [data_start + begin, data_start + end) is inside the mapping (checked just above).
    t.data = f->data() + data_start + begin;
    t.nbytes = need;
    if (set->tensors.count(name) != 0) return bad(path, name, "defined twice in the checkpoint");
    spans.emplace_back(begin, end, name);
    set->tensors.emplace(name, std::move(t));
  }
  // Tensors may not overlap, and the data section ends where the last one
  // does: a wrong header_len or shifted data_offsets break one or the
  // other. (The format also forbids holes; one is tolerated here, since it
  // is what a tensor missing from the header leaves, and the model builder
  // then names the missing tensor.)
  std::sort(spans.begin(), spans.end());
  uint64_t covered = 0;
  for (const auto& [begin, end, name] : spans) {
    if (begin < covered) {
      return bad(path, name,
                 "data_offsets start at " + std::to_string(begin) + " but the previous tensor ends at " + std::to_string(covered) +
                     " (tensors may not overlap): corrupt data_offsets");
    }
    covered = end;
  }
  if (covered != data_size) {
    return make_err(Code::BAD_FORMAT,
                    "header field 'header_len' = " + std::to_string(hlen) + ": the tensors end at byte " + std::to_string(covered) +
                        " of a data section of " + std::to_string(data_size) +
                        " (it must end with the last tensor): a wrong header_len or data_offsets, or a tensor missing from the header",
                    path);
  }
  set->files.push_back(std::move(f));
  return Status();
}

Result<TensorSet> read_safetensors_dir(const std::string& dir, FileHold hold) {
  TensorSet set;
  const std::string index = dir + "/model.safetensors.index.json";
  if (file_exists(index)) {
    auto text = read_text_file(index, 64ull << 20);
    if (!text.ok()) return text.error();
    auto parsed = parse_json(text.value().data(), text.value().size(), index);
    if (!parsed.ok()) return parsed.error();
    const Json* wm = parsed.value().get("weight_map");
    if (wm == nullptr || !wm->is_object()) return make_err(Code::BAD_FORMAT, "missing 'weight_map' object", index);
    std::set<std::string> shards;
    for (size_t i = 0; i < wm->keys.size(); ++i) {
      const Json& v = wm->items[i];
      // A shard name must stay inside the model directory.
      if (!v.is_string() || v.str.empty() || v.str.find('/') != std::string::npos || v.str == ".." || v.str == ".") {
        return make_err(Code::BAD_FORMAT, "tensor '" + wm->keys[i] + "': invalid shard file name", index);
      }
      shards.insert(v.str);
    }
    for (const std::string& s : shards) {
      Status st = read_safetensors_file(dir + "/" + s, &set, hold);
      if (!st.ok()) return st.error();
    }
    for (size_t i = 0; i < wm->keys.size(); ++i) {
      const TensorInfo* t = set.find(wm->keys[i]);
      if (t == nullptr || t->file != dir + "/" + wm->items[i].str) {
        return make_err(Code::BAD_FORMAT, "tensor '" + wm->keys[i] + "' is listed in the index but missing from its shard",
                        dir + "/" + wm->items[i].str);
      }
    }
    return set;
  }
  const std::string single = dir + "/model.safetensors";
  if (!file_exists(single)) {
    return make_err(Code::NOT_FOUND, "neither model.safetensors nor model.safetensors.index.json found", dir);
  }
  Status st = read_safetensors_file(single, &set, hold);
  if (!st.ok()) return st.error();
  return set;
}

}  // namespace hs
