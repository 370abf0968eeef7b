// Memory estimates (models/memory_estimate.h): the estimate against the peak resident memory
// measured on the CPU (docs/memory.md), the refusal's message, and the available memory.
#include <catch2/catch.hpp>

#include "engine/error.h"
#include "models/memory_estimate.h"

using namespace ddnet;
using Catch::Contains;

namespace {
constexpr double kMiB = 1024.0 * 1024.0;
}

TEST_CASE("memory estimate: training at or above the measured peak RSS, by at most 20%",
          "[models][memory]") {
  struct Point {
    int dims;
    std::int64_t voxels;
    bool lean;
    int recompute_from_level;
    double measured_mib;  // /usr/bin/time %M of `ddnet train` (bench/memory-sizes.sh, 2026-12-05)
  };
  for (const Point& p : {Point{3, std::int64_t{16} * 64 * 64, true, 0, 243},
                         Point{3, std::int64_t{16} * 128 * 128, true, 0, 456},
                         Point{3, std::int64_t{32} * 256 * 256, true, 0, 1972},
                         Point{3, std::int64_t{32} * 512 * 512, true, 0, 6555},
                         Point{3, std::int64_t{64} * 512 * 512, true, 0, 12535},
                         Point{3, std::int64_t{16} * 64 * 64, true, 1, 227},
                         Point{3, std::int64_t{16} * 128 * 128, true, 1, 470},
                         Point{3, std::int64_t{32} * 256 * 256, true, 1, 1850},
                         Point{3, std::int64_t{32} * 512 * 512, true, 1, 6284},
                         Point{3, std::int64_t{64} * 512 * 512, true, 1, 11999},
                         Point{3, std::int64_t{16} * 64 * 64, false, 0, 280},
                         Point{3, std::int64_t{16} * 128 * 128, false, 0, 674},
                         Point{3, std::int64_t{32} * 256 * 256, false, 0, 3320},
                         Point{3, std::int64_t{16} * 512 * 512, false, 0, 6721},
                         Point{2, std::int64_t{256} * 256, true, 0, 147},
                         Point{2, std::int64_t{512} * 512, true, 0, 418},
                         Point{2, std::int64_t{1024} * 1024, true, 0, 1377},
                         Point{2, std::int64_t{2048} * 2048, true, 0, 4267},
                         Point{2, std::int64_t{256} * 256, true, 1, 145},
                         Point{2, std::int64_t{512} * 512, true, 1, 554},
                         Point{2, std::int64_t{1024} * 1024, true, 1, 1125},
                         Point{2, std::int64_t{2048} * 2048, true, 1, 3643},
                         Point{2, std::int64_t{256} * 256, false, 0, 246},
                         Point{2, std::int64_t{512} * 512, false, 0, 872},
                         Point{2, std::int64_t{1024} * 1024, false, 0, 2639},
                         Point{2, std::int64_t{2048} * 2048, false, 0, 9603}}) {
    const double est = models::estimate_training_memory(p.dims, p.voxels, Device::cpu(), p.lean,
                                                        p.recompute_from_level)
                           .total() /
                       kMiB;
    INFO(p.dims << "D, " << p.voxels << " voxels per step, " << (p.lean ? "lean" : "fast")
                << ", recompute from level " << p.recompute_from_level << ": estimate " << est
                << " MiB, measured " << p.measured_mib << " MiB");
    // Never under what the run took (a refusal must not let a run be killed), and not far over
    // (nor refuse one that fits).
    CHECK(est >= p.measured_mib);
    CHECK(est <= 1.20 * p.measured_mib);
  }
}

TEST_CASE("memory estimate: denoising within 15% of the measured peak RSS", "[models][memory]") {
  struct Point {
    int dims;
    std::int64_t tile, volume;
    double measured_mib;
  };
  for (const Point& p :
       {Point{3, 32 * 128 * 128, 32 * 128 * 128, 821},
        Point{3, 64 * 192 * 192, 64 * 192 * 192, 2976}, Point{2, 256 * 256, 32 * 256 * 256, 234},
        Point{2, 512 * 512, 16 * 512 * 512, 650}}) {
    const double est =
        models::estimate_denoise_memory(p.dims, p.tile, 1, p.volume, Device::cpu()).total() / kMiB;
    INFO(p.dims << "D, tile " << p.tile << ", volume " << p.volume << ": estimate " << est
                << " MiB, measured " << p.measured_mib << " MiB");
    CHECK(std::abs(est - p.measured_mib) / p.measured_mib < 0.15);
  }
}

TEST_CASE("memory estimate: a run that cannot fit is refused with the estimate and the advice",
          "[models][memory]") {
  std::string where;
  const double available = models::available_memory(Device::cpu(), &where);
  INFO(where);
  REQUIRE(available > 0);  // Linux: MemAvailable
  CHECK_THAT(where, Contains("MemAvailable") || Contains("memory.max"));
  // 2D-DDnet on a 65536^2 crop: terabytes.
  const auto e = models::estimate_training_memory(2, std::int64_t{65536} * 65536, Device::cpu());
  CHECK(e.total() > 1e12);
  CHECK_THROWS_WITH(models::check_memory("train", e, Device::cpu(), 1, "Give a smaller --size"),
                    Contains("train: this needs about") &&
                        Contains("for 4294967296 input voxels at once") && Contains("but only") &&
                        Contains("Give a smaller --size") && Contains("--ignore-memory-estimate"));
  // Ranks of one machine share it: the estimate counts once per rank.
  const auto small = models::estimate_training_memory(2, 64 * 64, Device::cpu());
  CHECK_NOTHROW(models::check_memory("train", small, Device::cpu(), 1, ""));
  // Twice the ranks that fit now: MemAvailable is read again inside and moves with whatever
  // else runs (other tests free memory), so just one rank too many was flaky.
  CHECK_THROWS_WITH(models::check_memory("train", small, Device::cpu(),
                                         2 * static_cast<int>(available / small.total()) + 2, ""),
                    Contains("per process, x"));
}

TEST_CASE("memory estimate: training on a GPU counts device memory only, from the accounting",
          "[models][memory]") {
  const Device gpu(Device::Type::cuda, 0);  // unchecked: no GPU needed to estimate
  constexpr double kGiB = 1024.0 * kMiB;
  // 3D-DDnet on a whole 512x512x256 volume: the tensors' peak (493 B/voxel lean) times the
  // allocator's reserve (1.15), cuDNN's workspace cap and the depth split's two chunk buffers
  // (its 32-channel full-resolution tensors have 2^31 elements).
  const std::int64_t voxels = std::int64_t{512} * 512 * 256;
  const auto lean = models::estimate_training_memory(3, voxels, gpu, true, 0);
  CHECK(lean.runtime == 0);
  CHECK(lean.activations == Approx(493.0 * 1.15 * static_cast<double>(voxels)));
  CHECK(lean.workspaces == Approx(3 * kGiB));
  CHECK(lean.total() < 45 * kGiB);  // fits an 80 GB GPU, and a 48 GB one
  CHECK_THAT(lean.str(), Contains("convolution workspaces 3.0 GiB"));
  const auto fast = models::estimate_training_memory(3, voxels, gpu, false, 0);
  CHECK(fast.total() > 80 * kGiB);  // does not
  const auto recompute = models::estimate_training_memory(3, voxels, gpu, true, 1);
  CHECK(recompute.total() < lean.total());
  // Under the split limit: cuDNN's cap only.
  const auto small = models::estimate_training_memory(3, 16 * 64 * 64, gpu, true, 0);
  CHECK(small.workspaces == Approx(1 * kGiB));
  // The CPU estimate is unchanged by it: resident memory, with the runtime.
  const auto cpu = models::estimate_training_memory(3, 16 * 64 * 64, Device::cpu(), true, 0);
  CHECK(cpu.workspaces == 0);
  CHECK(cpu.runtime > 0);
}
