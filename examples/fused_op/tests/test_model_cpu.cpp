// The model switch on the CPU: 3D-DDnet and 2D-DDnet with `set_upsample_into(fused_op::
// upsample_into)` give the same output, parameter gradients, running statistics and eval output,
// bit for bit, as without it.
#include <catch2/catch.hpp>

#include "model_run.h"

using namespace fused_op::test;

TEST_CASE("cpu model: 3D-DDnet and 2D-DDnet, bit for bit with and without the switch",
          "[cpu][model]") {
  // The CPU convolutions run as this machine configures them (oneDNN, FFT tiles or im2col): the
  // choice depends on the shapes only (a fixed cost model, no timing), so every layer but the
  // decoder's upsample takes the same path, with the same bits, in both runs.
  struct Case {
    int dims;
    Shape input;
  };
  for (const Case& c : {Case{3, {1, 1, 16, 32, 32}}, Case{2, {2, 1, 32, 32}}}) {
    const ModelRun unfused = run_model(c.dims, c.input, false, Device::cpu());
    const ModelRun fused = run_model(c.dims, c.input, true, Device::cpu());
    REQUIRE(fused.fused_calls == 8);  // training and eval forwards
    REQUIRE(unfused.fused_calls == 0);
    REQUIRE(fused.results.size() == unfused.results.size());
    for (std::size_t i = 0; i < fused.results.size(); ++i) {
      INFO(c.dims << "D, " << c.input.str() << ": " << fused.results[i].name);
      REQUIRE(same_bits(fused.results[i].value, unfused.results[i].value));
    }
  }
}
