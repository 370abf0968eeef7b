// ddnet's CUDA emulator: the version of the cuDNN API that tests/sim/include/cudnn.h models (the
// one the project is built against on real hardware), in the real header's form, so that the
// build's version probe (cmake/DdnetDependencies.cmake) reads it the same way.
#ifndef CUDNN_VERSION_H_
#define CUDNN_VERSION_H_

#define CUDNN_MAJOR 9
#define CUDNN_MINOR 19
#define CUDNN_PATCHLEVEL 0

#define CUDNN_VERSION (CUDNN_MAJOR * 10000 + CUDNN_MINOR * 100 + CUDNN_PATCHLEVEL)

#endif  // CUDNN_VERSION_H_
