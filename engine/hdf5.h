// HDF5 in one place, for the dataset (data/), the checkpoints (models/) and the test fixtures:
// an owning handle that closes its identifier on every path (an exception included), checked
// calls whose errors name the file, dataset or attribute, HDF5's error printing silenced for a
// scope, and the attribute and extent reads and writes they share.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/error.h"

namespace ddnet {
namespace h5 {

// Closes `id` (a file, group, dataset, dataspace, datatype, attribute or property list) and sets
// it to -1. close_quietly ignores a failure (destructors, error paths); close_checked throws
// "what: cannot close (...)" (closing a file flushes it: a full disk shows here).
void close_quietly(hid_t& id) noexcept;
void close_checked(hid_t& id, const std::string& what);

// Closes and removes a file being written that is thrown away (an error on the way): first cuts
// it to nothing, so that on a full disk the room HDF5 needs to close it (it writes its metadata)
// comes back. A file whose close fails stays half-closed in HDF5 1.10, which crashes when it
// tries again at exit.
void discard_file(hid_t& file, const std::string& path) noexcept;

// Creates (truncates) the HDF5 file `path` for writing and returns its identifier; errors read
// "<what>: cannot create ...". It first makes sure the disk has room for the first metadata
// HDF5 writes (it writes 64 KiB of zeros, then cuts the file to nothing): H5Fcreate in HDF5 1.10
// leaks half a file when that first write fails, and the library then loops at exit.
hid_t create_file(const std::string& path, const std::string& what);

// Owns one identifier. Only for identifiers the caller created or opened, never the library's
// predefined types (H5T_NATIVE_FLOAT, ...).
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) noexcept : id_(id) {}
  ~Handle() { close_quietly(id_); }
  Handle(Handle&& o) noexcept : id_(o.release()) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      close_quietly(id_);
      id_ = o.release();
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  operator hid_t() const { return id_; }  // NOLINT: a handle is used where an hid_t is
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }
  hid_t release() noexcept {
    const hid_t id = id_;
    id_ = -1;
    return id;
  }
  void close(const std::string& what) { close_checked(id_, what); }

 private:
  hid_t id_ = -1;
};

// HDF5 prints its error stack to stderr by default; within a Quiet scope it does not (we throw
// our own messages). The previous setting comes back at the end of the scope.
class Quiet {
 public:
  Quiet();
  ~Quiet();
  Quiet(const Quiet&) = delete;
  Quiet& operator=(const Quiet&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

namespace detail {
// HDF5 calls report failure with a negative value (herr_t, hid_t, htri_t, ssize_t, and the
// H5T_NO_CLASS / H5T_SGN_ERROR enumerators).
template <class T, class Message>
T check(T result, const Message& message, const char* file, int line) {
  if (result < 0) ::ddnet::detail::throw_error(message(), file, line);
  return result;
}
template <class T>
T check_call(T result, const char* call, const char* file, int line) {
  if (result < 0)
    ::ddnet::detail::throw_call_error("HDF5", call, static_cast<long>(result), "call failed", file,
                                      line);
  return result;
}
}  // namespace detail

// Attributes of `loc` (a file, group or dataset). `where` names loc in errors, which read
// "<where>: cannot write attribute '<name>'" and the like.
bool has_attr(hid_t loc, const char* name, const std::string& where);
void write_attr_string(hid_t loc, const char* name, const std::string& value,
                       const std::string& where);
void write_attr_i32(hid_t loc, const char* name, std::int32_t value, const std::string& where);
void write_attr_i64(hid_t loc, const char* name, std::int64_t value, const std::string& where);
void write_attr_doubles(hid_t loc, const char* name, const double* values, std::size_t n,
                        const std::string& where);
// One string (a scalar or a single element): fixed-length (ours, h5py's bytes; null- or
// space-padded) or variable-length (h5py's str), ASCII or UTF-8.
std::string read_attr_string(hid_t loc, const char* name, const std::string& where);
std::int64_t read_attr_i64(hid_t loc, const char* name, const std::string& where);
std::vector<double> read_attr_doubles(hid_t loc, const char* name, const std::string& where);
// Unsigned 32-bit values (checksums): n values, or a scalar when n is 0. The reader takes any
// integer attribute of up to 32 bits' range and returns its values (one for a scalar).
void write_attr_u32s(hid_t loc, const char* name, const std::uint32_t* values, std::size_t n,
                     const std::string& where);
std::vector<std::uint32_t> read_attr_u32s(hid_t loc, const char* name, const std::string& where);

// Converts n values in `buf` from type `from` to type `to` in place (H5Tconvert); buf holds
// n * max(size of from, size of to) bytes. Errors name `where`.
void convert(hid_t from, hid_t to, std::size_t n, void* buf, const std::string& where);

// Untrusted files. HDF5 can make a reader open another host file: an external link (to an
// object in another HDF5 file), a dataset whose raw data lives in other files (external
// storage, H5Pset_external) or a virtual dataset mapping other files. Unless allow_external,
// these refuse them with "<where>: '<name>' is ...": check_link before a member is opened (hard
// and soft links pass, every other kind is refused), check_same_file after (a soft link can
// lead through an external one), check_local_storage before a dataset's values are read.
void check_link(hid_t loc, const char* name, const std::string& where, bool allow_external);
void check_same_file(hid_t file, hid_t object, const std::string& what, bool allow_external);
void check_local_storage(hid_t dataset, const std::string& what, bool allow_external);
// All three: dataset `name` of `loc` (in `file`), opened. `where` names loc.
Handle open_dataset(hid_t file, hid_t loc, const char* name, const std::string& where,
                    bool allow_external);

// The dimensions of a dataset (empty for a scalar).
std::vector<hsize_t> extent(hid_t dataset, const std::string& where);

}  // namespace h5
}  // namespace ddnet

// H5_CHECK(call): the call's value; throws naming the call when it is negative.
#define H5_CHECK(call) ::ddnet::h5::detail::check_call((call), #call, __FILE__, __LINE__)

// H5_CHECK_MSG(call, parts...): the call's value; throws ddnet::Error("parts... [file:line]"),
// as DDNET_CHECK does, when it is negative. The parts name the file and object.
#define H5_CHECK_MSG(call, ...)                                                              \
  ::ddnet::h5::detail::check((call), [&]() { return ::ddnet::detail::concat(__VA_ARGS__); }, \
                             __FILE__, __LINE__)
