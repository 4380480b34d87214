// safetensors: `u64 header_len | JSON header | data`, each header entry
// { dtype, shape, data_offsets: [begin, end) relative to the data section }.
// A directory is read through model.safetensors.index.json when present
// (sharded), else model.safetensors.
#pragma once

#include <string>

#include "model/tensors.h"
#include "result.h"

namespace hs {

// Adds the tensors of one file to `set` (and keeps the mapping alive there).
Status read_safetensors_file(const std::string& path, TensorSet* set, FileHold hold = FileHold::Map);
// The checkpoint of a Hugging Face directory, sharded or not.
Result<TensorSet> read_safetensors_dir(const std::string& dir, FileHold hold = FileHold::Map);

}  // namespace hs
