// Internal: the few CUDA runtime calls the engine makes, behind CUDA-free signatures, so engine
// code compiles unchanged with or without the toolkit. cuda_runtime_seam.cpp implements them with
// the CUDA runtime; cuda_runtime_none.cpp (CPU-only builds) throws "built without CUDA".
#pragma once

#include <cstddef>
#include <string>

namespace ddnet::seam {

enum class CopyKind { host_to_device, device_to_host, device_to_device, host_to_host };

int device_count(std::string* why_none);
std::string device_name(int device);
void set_device(int device);
int get_device();
void device_synchronize(int device);
void mem_get_info(int device, std::size_t* free_bytes, std::size_t* total_bytes);

void* device_malloc(std::size_t bytes, int device);  // nullptr when out of memory
void device_free(void* p, int device);
void* host_alloc_pinned(std::size_t bytes);
void host_free_pinned(void* p);

void memcpy_async(void* dst, const void* src, std::size_t bytes, CopyKind kind, void* stream);
void memcpy2d_async(void* dst, std::size_t dpitch, const void* src, std::size_t spitch,
                    std::size_t width, std::size_t height, CopyKind kind, void* stream);
void memset_async(void* dst, int value, std::size_t bytes, void* stream);

void* stream_create(int device);
void stream_destroy(void* stream);
void stream_synchronize(void* stream);

// blocking: synchronizing on the event yields the thread instead of spinning.
void* event_create(bool timing, bool blocking = false);
void event_destroy(void* event);
void event_record(void* event, void* stream);
bool event_query(void* event);
void event_synchronize(void* event);
void stream_wait_event(void* stream, void* event);
float event_elapsed_ms(void* start, void* end);

}  // namespace ddnet::seam
