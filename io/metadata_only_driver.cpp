#include "metadata_only_driver.hpp"

#include "hdf5_handle.hpp"

#if H5_VERSION_GE(1, 13, 0)
#include <H5FDdevelop.h>  // the driver interface moved here
#endif
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <new>

namespace sk {
namespace {

// The library's part of an open file comes first; the driver's follows.
struct File {
  H5FD_t base;
  int fd;
  haddr_t eoa, eof;  // end of the allocated address space; size on disk
  dev_t device;
  ino_t inode;
};

File* file_of(H5FD_t* f) { return reinterpret_cast<File*>(f); }
const File* file_of(const H5FD_t* f) { return reinterpret_cast<const File*>(f); }

H5FD_t* open_file(const char* name, unsigned flags, hid_t, haddr_t) {
  int mode = (flags & H5F_ACC_RDWR) ? O_RDWR : O_RDONLY;
  if (flags & H5F_ACC_TRUNC) mode |= O_TRUNC;
  if (flags & H5F_ACC_CREAT) mode |= O_CREAT;
  if (flags & H5F_ACC_EXCL) mode |= O_EXCL;
  const int fd = ::open(name, mode, 0666);
  struct stat st {};
  if (fd < 0) return nullptr;
  File* f = fstat(fd, &st) == 0 ? new (std::nothrow) File{} : nullptr;
  if (!f) {
    ::close(fd);
    return nullptr;
  }
  f->fd = fd;
  f->eof = haddr_t(st.st_size);
  f->device = st.st_dev;
  f->inode = st.st_ino;
  return &f->base;
}

herr_t close_file(H5FD_t* f) {
  const int rc = ::close(file_of(f)->fd);
  delete file_of(f);
  return rc == 0 ? 0 : -1;
}

int compare(const H5FD_t* a, const H5FD_t* b) {
  const File *x = file_of(a), *y = file_of(b);
  if (x->device != y->device) return x->device < y->device ? -1 : 1;
  if (x->inode != y->inode) return x->inode < y->inode ? -1 : 1;
  return 0;
}

// What the default POSIX driver offers: the library aggregates and caches
// small writes, and H5Fget_vfd_handle gives the file descriptor.
herr_t query(const H5FD_t*, unsigned long* flags) {
  *flags = H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_ACCUMULATE_METADATA | H5FD_FEAT_DATA_SIEVE |
           H5FD_FEAT_AGGREGATE_SMALLDATA | H5FD_FEAT_POSIX_COMPAT_HANDLE | H5FD_FEAT_DEFAULT_VFD_COMPATIBLE;
  return 0;
}

haddr_t get_eoa(const H5FD_t* f, H5FD_mem_t) { return file_of(f)->eoa; }
herr_t set_eoa(H5FD_t* f, H5FD_mem_t, haddr_t addr) {
  file_of(f)->eoa = addr;
  return 0;
}
haddr_t get_eof(const H5FD_t* f, H5FD_mem_t) { return file_of(f)->eof; }

herr_t get_handle(H5FD_t* f, hid_t, void** handle) {
  *handle = &file_of(f)->fd;
  return 0;
}

// Reads past the end of the file return zeros, as the library expects.
herr_t read_file(H5FD_t* f, H5FD_mem_t, hid_t, haddr_t addr, size_t size, void* buffer) {
  auto* out = static_cast<unsigned char*>(buffer);
  while (size > 0) {
    const ssize_t n = ::pread(file_of(f)->fd, out, size, off_t(addr));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) {
      std::memset(out, 0, size);
      break;
    }
    out += n;
    addr += haddr_t(n);
    size -= size_t(n);
  }
  return 0;
}

thread_local bool skipping_raw_data = false;

// Datasets' raw data is left to the program while skipping; everything else
// is written.
herr_t write_file(H5FD_t* f, H5FD_mem_t type, hid_t, haddr_t addr, size_t size, const void* buffer) {
  if (type == H5FD_MEM_DRAW && skipping_raw_data) return 0;
  const auto* in = static_cast<const unsigned char*>(buffer);
  while (size > 0) {
    const ssize_t n = ::pwrite(file_of(f)->fd, in, size, off_t(addr));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    in += n;
    addr += haddr_t(n);
    size -= size_t(n);
    file_of(f)->eof = std::max(file_of(f)->eof, addr);
  }
  return 0;
}

// The file ends where the library's address space ends (its last chunks may
// not have been written yet).
herr_t truncate_file(H5FD_t* f, hid_t, hbool_t) {
  File* file = file_of(f);
  if (file->eof == file->eoa) return 0;
  if (::ftruncate(file->fd, off_t(file->eoa)) != 0) return -1;
  file->eof = file->eoa;
  return 0;
}

H5FD_class_t driver_class() {
  H5FD_class_t c{};
#ifdef H5FD_CLASS_VERSION  // HDF5 1.14 and later
  c.version = H5FD_CLASS_VERSION;
  c.value = H5FD_class_value_t(601);  // user drivers take values of 256 and above
#endif
  c.name = "sophia_kokkos_metadata_only";
  c.maxaddr = haddr_t(std::numeric_limits<off_t>::max());
  c.fc_degree = H5F_CLOSE_WEAK;
  c.open = open_file;
  c.close = close_file;
  c.cmp = compare;
  c.query = query;
  c.get_eoa = get_eoa;
  c.set_eoa = set_eoa;
  c.get_eof = get_eof;
  c.get_handle = get_handle;
  c.read = read_file;
  c.write = write_file;
  c.truncate = truncate_file;
  const H5FD_mem_t map[H5FD_MEM_NTYPES] = H5FD_FLMAP_DICHOTOMY;
  std::copy(map, map + H5FD_MEM_NTYPES, c.fl_map);
  return c;
}

}  // namespace

RawDataSkipped::RawDataSkipped() { skipping_raw_data = true; }
RawDataSkipped::~RawDataSkipped() { skipping_raw_data = false; }

hid_t metadata_only_access() {
  static const H5FD_class_t cls = driver_class();
  static const hid_t driver = H5FDregister(&cls);
  const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (driver < 0 || H5Pset_driver(fapl, driver, nullptr) < 0 || !use_checksummed_format(fapl)) {
    H5Pclose(fapl);
    return -1;
  }
  return fapl;
}

}  // namespace sk
