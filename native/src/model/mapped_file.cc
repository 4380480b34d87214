#include "model/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hs {

Result<std::shared_ptr<MappedFile>> MappedFile::open(const std::string& path) {
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
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return make_err(e == ENOMEM ? Code::OUT_OF_MEMORY : Code::IO,
                      std::string("mmap failed: ") + std::strerror(e), path);
    }
    f->data_ = static_cast<const uint8_t*>(p);
  }
  // The mapping keeps the file's pages reachable; the descriptor is not needed.
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) munmap(const_cast<uint8_t*>(data_), size_);
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
