// Device parsing and the process-wide CUDA facts.
#include "engine/device.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "engine/cuda_runtime_seam.h"
#include "engine/error.h"
#include "generated/ddnet_config.h"

namespace ddnet {

Device Device::cuda(int index) {
  DDNET_CHECK(index >= 0, "cuda:", index, ": a device index cannot be negative");
  std::string why;
  int n = seam::device_count(&why);
  DDNET_CHECK(n > 0, "CUDA device cuda:", index, " requested, but no CUDA device is usable: ", why);
  DDNET_CHECK(index < n, "CUDA device cuda:", index, " requested, but only ", n,
              " device(s) exist (cuda:0..cuda:", n - 1, ")");
  return Device(Type::cuda, index);
}

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda" || text == "gpu") return cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    const std::string num = text.substr(5);
    char* end = nullptr;
    long idx = std::strtol(num.c_str(), &end, 10);
    DDNET_CHECK(!num.empty() && end && *end == '\0', "device '", text,
                "': expected cpu, cuda or cuda:N");
    return cuda(static_cast<int>(idx));
  }
  DDNET_FAIL("device '", text, "': expected cpu, cuda or cuda:N");
}

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : detail::concat("cuda:", index_);
}

bool cuda_compiled() {
  return DDNET_WITH_CUDA != 0;
}
int cuda_device_count() {
  return seam::device_count(nullptr);
}
std::string cuda_unavailable_reason() {
  std::string why;
  seam::device_count(&why);
  return why;
}
std::string cuda_device_name(int index) {
  return seam::device_name(Device::cuda(index).index());
}
void use_device(const Device& device) {
  if (device.is_cuda()) seam::set_device(device.index());
}
void cuda_synchronize(int index) {
  seam::device_synchronize(index);
}
void cuda_memory_info(int index, std::size_t* free_bytes, std::size_t* total_bytes) {
  seam::mem_get_info(Device::cuda(index).index(), free_bytes, total_bytes);
}

namespace {
std::atomic<bool>& sync_flag() {
  static std::atomic<bool> flag{[] {
    const char* env = std::getenv("DDNET_SYNC_LAUNCHES");
    return env && *env && std::strcmp(env, "0") != 0;
  }()};
  return flag;
}
}  // namespace

void set_sync_after_launch(bool on) {
  sync_flag().store(on);
}
bool sync_after_launch() {
  return sync_flag().load();
}

}  // namespace ddnet
