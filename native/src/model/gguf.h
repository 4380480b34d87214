// GGUF (v2/v3, little-endian): magic "GGUF", version, tensor count, metadata
// count, the metadata key/values, the tensor infos, then the aligned data
// section. Every count, length and offset is checked against the file size.
#pragma once

#include <memory>
#include <string>
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
  uint64_t count = 0;                 // arrays: element count (even when items were skipped)
  std::vector<GgufValue> items;       // arrays: elements (empty when skipped)

  bool is_integer() const;
  bool is_float() const { return type == GgufType::F32 || type == GgufType::F64; }
  // Numeric value of any integer/float/bool scalar.
  double as_double() const;
  int64_t as_int() const;
};

struct GgufFile {
  uint32_t version = 0;
  std::vector<std::string> keys;
  std::vector<GgufValue> values;  // parallel to keys
  TensorSet tensors;
  const GgufValue* get(const std::string& key) const;
};

// keep_arrays = false skips the contents of large arrays (e.g. the
// vocabulary) while still validating them; model loading does not need them.
Result<std::unique_ptr<GgufFile>> read_gguf(const std::string& path, bool keep_arrays, FileHold hold = FileHold::Map);

}  // namespace hs
