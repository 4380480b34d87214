// A read-only memory map of one model file. Every loader reads through
// `contains()` before touching bytes, so a truncated or corrupt file turns
// into an error Result instead of a read past the mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "result.h"

namespace hs {

// How a file's bytes are held. Map: a read-only map. Weights: the file holds
// the weights the CPU computes with, and HIPSERVE_WEIGHTS decides:
//   auto (default)  files >= 64 MiB are read into anonymous memory on 2 MiB
//                   transparent huge pages when they fit in half of
//                   MemAvailable, else mapped; smaller files are mapped
//   copy            always read into memory
//   mmap            always mapped (page cache, 4 KiB pages)
// Decode streams every weight once per token: on the VMs measured here a
// 4 KiB-page mapping decoded ~10-25% slower than huge pages (bench/README.md).
// Metadata reads and device backends (which upload the weights) use Map.
enum class FileHold { Map, Weights };

class MappedFile {
 public:
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path, FileHold hold = FileHold::Map);
  // True when the bytes were read into memory rather than mapped.
  bool copied() const { return copied_; }
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // True when [offset, offset + length) lies inside the file; written so that
  // no addition can overflow whatever the two values are.
  bool contains(uint64_t offset, uint64_t length) const {
    return offset <= size_ && length <= size_ - offset;
  }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  bool copied_ = false;
  void* region_ = nullptr;  // what munmap releases (copied: the unaligned reservation)
  size_t region_size_ = 0;
};

// Overflow-checked arithmetic for sizes read from files.
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
inline bool checked_add(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
Result<std::string> read_text_file(const std::string& path, uint64_t max_bytes);

}  // namespace hs
