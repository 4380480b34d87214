// GGUF (v2/v3, little-endian): magic "GGUF", version, tensor count, metadata
// count, the metadata key/values, the tensor infos, then the aligned data
// section. Every count, length and offset is checked against the file size,
// and nothing is allocated per array element: arrays are validated in place
// and their elements read from the mapping on demand (gguf_array_items), so
// a corrupt count costs at most a walk over bytes the file really has.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/tensors.h"
#include "result.h"

namespace hs {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

struct GgufValue {
  GgufType type = GgufType::U8;
  uint64_t u = 0;    // unsigned integers and bool
  int64_t i = 0;     // signed integers
  double f = 0.0;    // floats
  std::string s;     // strings
  GgufType elem_type = GgufType::U8;  // arrays
  uint64_t count = 0;                 // arrays: element count
  uint64_t offset = 0;                // arrays: file offset of the first element (see gguf_array_items)

  bool is_integer() const;
  bool is_float() const { return type == GgufType::F32 || type == GgufType::F64; }
  // Numeric value of any integer/float/bool scalar.
  double as_double() const;
  int64_t as_int() const;
};

struct GgufFile {
  uint32_t version = 0;
  std::shared_ptr<MappedFile> file;  // what array elements are read from (kept after `tensors` is moved out)
  std::vector<std::string> keys;     // in file order; no key appears twice (a duplicate is refused)
  std::vector<GgufValue> values;     // parallel to keys
  std::unordered_map<std::string, size_t> index;  // key -> position in keys/values
  TensorSet tensors;
  const GgufValue* get(const std::string& key) const;
};

Result<std::unique_ptr<GgufFile>> read_gguf(const std::string& path, FileHold hold = FileHold::Map);

// Calls fn with each element of `a`, an array value of `g`, decoded one at a
// time from the mapping (an element that is itself an array carries its own
// offset for a nested call). read_gguf validated every element, so this
// fails only when `a` is not one of g's arrays.
Status gguf_array_items(const GgufFile& g, const GgufValue& a, const std::function<void(const GgufValue&)>& fn);

}  // namespace hs
