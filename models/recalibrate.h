// BatchNorm recalibration: running statistics measured on the volumes a network will denoise.
//
// A network trained on crops at batch 1 normalises, while it trains, with each crop's own
// statistics; its running statistics (an exponential average over crops, momentum 0.1) are not
// those of the whole volumes it later denoises in eval mode, and can be far from them when crops
// differ from each other (air, bone, soft tissue). Recalibration replaces every BatchNorm
// layer's running statistics by the plain average of its batch statistics over whole volumes:
// training-mode forwards without gradients, one volume each, as PyTorch's
// torch.optim.swa_utils.update_bn does. The parameters are not touched.
// `ddnet train --bn-recalibrate N` does it before each validation and checkpoint
// (TrainConfig::bn_recalibrate).
#pragma once

#include <cstdint>
#include <functional>

#include "engine/tensor.h"
#include "graph/module.h"

namespace ddnet::models {

// Every BatchNorm layer of `net`: running mean and variance reset (0 and 1) and num_batches_tracked
// to 0, then `count` training-mode forwards of volume(0) ... volume(count - 1) (moved to `device`,
// where `net` is) with gradients off, each weighing 1 / its number; their momentum is restored
// afterwards. Afterwards the running mean is the average of the batch means, the running variance
// the average of the batch variances (unbiased), num_batches_tracked is `count`, and `net` is in
// eval mode. `forward` is the network's forward (net.forward for a DDnet). count >= 1.
void recalibrate_batch_norm(nn::Module& net, const std::function<Tensor(const Tensor&)>& forward,
                            std::int64_t count, const std::function<Tensor(std::int64_t)>& volume,
                            Device device);

}  // namespace ddnet::models
