// What a loader hands to the model builder: every tensor of the checkpoint
// by name, pointing into the mmapped files that the set keeps alive.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cpu/kernels.h"
#include "model/mapped_file.h"

namespace hs {

struct TensorInfo {
  std::string name;
  std::string file;        // path of the file holding it, for error messages
  bool supported = false;  // false: a dtype this build does not read (see dtype_label)
  DType dtype = DType::F32;
  std::string dtype_label;      // the file's own name for the dtype
  std::vector<int64_t> shape;   // row-major, outermost first (GGUF dims are reversed)
  const uint8_t* data = nullptr;  // inside a mapping of `files`; nbytes readable
  uint64_t nbytes = 0;
};

struct TensorSet {
  std::vector<std::shared_ptr<MappedFile>> files;
  std::unordered_map<std::string, TensorInfo> tensors;
  const TensorInfo* find(const std::string& name) const {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : &it->second;
  }
};

inline std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace hs
