// CPU-only builds: the CUDA seam reports that this build has no CUDA. No device can be
// constructed here, so only device_count() is reached in practice; the rest guard against bugs.
#include "engine/cuda_runtime_seam.h"
#include "engine/error.h"

namespace ddnet::seam {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  DDNET_FAIL(what,
             ": this build of ddnet has no CUDA (configured with DDNET_WITH_CUDA=OFF or "
             "without the CUDA toolkit)");
}
}  // namespace

int device_count(std::string* why_none) {
  if (why_none) *why_none = "this build of ddnet has no CUDA (configured without the toolkit)";
  return 0;
}
std::string device_name(int) {
  no_cuda("device_name");
}
void set_device(int) {
  no_cuda("set_device");
}
int get_device() {
  no_cuda("get_device");
}
void device_synchronize(int) {
  no_cuda("device_synchronize");
}
void mem_get_info(int, std::size_t*, std::size_t*) {
  no_cuda("mem_get_info");
}
void* device_malloc(std::size_t, int) {
  no_cuda("device_malloc");
}
void device_free(void*, int) {
  no_cuda("device_free");
}
void* host_alloc_pinned(std::size_t) {
  no_cuda("pinned host memory");
}
void host_free_pinned(void*) {
  no_cuda("host_free_pinned");
}
void memcpy_async(void*, const void*, std::size_t, CopyKind, void*) {
  no_cuda("memcpy");
}
void memcpy2d_async(void*, std::size_t, const void*, std::size_t, std::size_t, std::size_t,
                    CopyKind, void*) {
  no_cuda("memcpy2d");
}
void memset_async(void*, int, std::size_t, void*) {
  no_cuda("memset");
}
void* stream_create(int) {
  no_cuda("stream_create");
}
void stream_destroy(void*) {
  no_cuda("stream_destroy");
}
void stream_synchronize(void*) {
  no_cuda("stream_synchronize");
}
void* event_create(bool, bool) {
  no_cuda("event_create");
}
void event_destroy(void*) {
  no_cuda("event_destroy");
}
void event_record(void*, void*) {
  no_cuda("event_record");
}
bool event_query(void*) {
  no_cuda("event_query");
}
void event_synchronize(void*) {
  no_cuda("event_synchronize");
}
void stream_wait_event(void*, void*) {
  no_cuda("stream_wait_event");
}
float event_elapsed_ms(void*, void*) {
  no_cuda("event_elapsed_ms");
}

}  // namespace ddnet::seam
