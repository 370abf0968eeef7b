// The differentiable ops (F::) in one include: each calls its kernels/<op>_ops.h entry point and,
// when an input requires grad, records its backward closure on the tape (engine/autograd.h). The
// closures live in layers/<op>_autograd.{h,cpp}, one pair per op.
#pragma once

#include "layers/batchnorm_autograd.h"
#include "layers/concat_autograd.h"
#include "layers/conv_autograd.h"
#include "layers/copy_autograd.h"
#include "layers/elementwise_autograd.h"
#include "layers/msssim_autograd.h"
#include "layers/pool_autograd.h"
#include "layers/reduce_autograd.h"
#include "layers/upsample_autograd.h"
