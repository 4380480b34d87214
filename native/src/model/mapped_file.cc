#include "model/mapped_file.h"

#include "huge_region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hs {

namespace {

constexpr uint64_t kReadChunk = uint64_t{64} << 20;  // bytes per pread
constexpr uint64_t kCopyMin = uint64_t{64} << 20;

// MemAvailable from /proc/meminfo in bytes, 0 when unknown.
uint64_t mem_available() {
  FILE* f = std::fopen("/proc/meminfo", "r");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long long kb = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
  }
  std::fclose(f);
  return static_cast<uint64_t>(kb) * 1024;
}

bool want_copy(uint64_t size) {
  const char* env = std::getenv("HIPSERVE_WEIGHTS");
  const std::string mode = env != nullptr ? env : "auto";
  if (mode == "copy") return true;
  if (mode == "mmap") return false;
  return size >= kCopyMin && size <= mem_available() / 2;
}

// Reads the whole file into a HugeRegion. On success *region/*region_size
// is the reservation to munmap and the returned pointer its aligned start.
Result<uint8_t*> read_into_memory(int fd, uint64_t size, const std::string& path, void** region,
                                  size_t* region_size) {
  HugeRegion mem(static_cast<size_t>(size));
  uint8_t* aligned = mem.data();
  if (aligned == nullptr) {
    return make_err(Code::OUT_OF_MEMORY, std::string("cannot reserve memory for the weights: ") + std::strerror(errno), path);
  }
  uint64_t off = 0;
  while (off < size) {
    const ssize_t n = pread(fd, aligned + off, static_cast<size_t>(std::min<uint64_t>(size - off, kReadChunk)), static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n < 0 ? errno : EIO;
      return make_err(Code::IO, std::string("read failed: ") + std::strerror(e), path);
    }
    off += static_cast<uint64_t>(n);
  }
  mem.release(region, region_size);
  return aligned;
}

}  // namespace

Result<std::shared_ptr<MappedFile>> MappedFile::open(const std::string& path, FileHold hold) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    Code c = errno == ENOENT ? Code::NOT_FOUND : Code::IO;
    return make_err(c, std::string("cannot open: ") + std::strerror(errno), path);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_err(Code::IO, "not a regular file", path);
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ > 0 && hold == FileHold::Weights && want_copy(f->size_)) {
    auto r = read_into_memory(fd, f->size_, path, &f->region_, &f->region_size_);
    ::close(fd);
    if (!r.ok()) return r.error();
    f->data_ = r.value();
    f->copied_ = true;
    return f;
  }
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return make_err(e == ENOMEM ? Code::OUT_OF_MEMORY : Code::IO,
                      std::string("mmap failed: ") + std::strerror(e), path);
    }
    f->data_ = static_cast<const uint8_t*>(p);
    f->region_ = p;
    f->region_size_ = static_cast<size_t>(f->size_);
  }
  // The mapping keeps the file's pages reachable; the descriptor is not needed.
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (region_ != nullptr) munmap(region_, region_size_);
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::string> read_text_file(const std::string& path, uint64_t max_bytes) {
  auto m = MappedFile::open(path);
  if (!m.ok()) return m.error();
  const MappedFile& f = *m.value();
  if (f.size() > max_bytes) {
    return make_err(Code::BAD_FORMAT, "file is larger than " + std::to_string(max_bytes) + " bytes", path);
  }
  // data() covers exactly size() bytes (or is null for an empty file).
  return std::string(reinterpret_cast<const char*>(f.data()), static_cast<size_t>(f.size()));
}

}  // namespace hs
