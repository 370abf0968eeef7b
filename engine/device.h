// Device {cpu, cuda:N}, what CUDA this process can use, and the debug switch that synchronises
// after every kernel launch. CUDA-free: compiles with a plain C++ compiler.
#pragma once

#include <cstddef>
#include <string>

namespace ddnet {

class Device {
 public:
  enum class Type { cpu, cuda };

  constexpr Device() = default;
  constexpr Device(Type type, int index) : type_(type), index_(type == Type::cpu ? 0 : index) {}
  static constexpr Device cpu() { return {Type::cpu, 0}; }
  static Device cuda(int index = 0);  // checks that the device exists; throws with the reason
  // "cpu", "cuda", "cuda:1"; anything else is an error naming the text.
  static Device parse(const std::string& text);

  Type type() const { return type_; }
  int index() const { return index_; }
  bool is_cpu() const { return type_ == Type::cpu; }
  bool is_cuda() const { return type_ == Type::cuda; }
  std::string str() const;

  bool operator==(const Device& o) const { return type_ == o.type_ && index_ == o.index_; }
  bool operator!=(const Device& o) const { return !(*this == o); }

 private:
  Type type_ = Type::cpu;
  int index_ = 0;
};

// True when this build compiled the CUDA paths.
bool cuda_compiled();
// Number of usable CUDA devices (0 without a toolkit build, a driver or a GPU).
int cuda_device_count();
// Why cuda_device_count() is 0, in words ("built without CUDA", "no CUDA driver: ..."); empty
// when there are devices.
std::string cuda_unavailable_reason();
// Name and memory of a device, for logs and benchmark reports.
std::string cuda_device_name(int index);
void cuda_synchronize(int index);
// Makes `device` the calling thread's current CUDA device: kernels, library handles and the
// default stream of ops that do not name a device go there. Call it before using cuda:N with
// N > 0 (a data-parallel rank's GPU). A no-op for the CPU.
void use_device(const Device& device);
// Free and total memory of a device in bytes, as the driver reports them now.
void cuda_memory_info(int index, std::size_t* free_bytes, std::size_t* total_bytes);

// Debug switch: when on, every kernel launch is followed by a device synchronisation and an
// error check, so an asynchronous fault is reported at the launch that caused it. Initialised
// from the environment variable DDNET_SYNC_LAUNCHES=1.
void set_sync_after_launch(bool on);
bool sync_after_launch();

}  // namespace ddnet
