# ddnet_cuda_sources(<target> SOURCES <.cu files> [EXACT <.cu files>]): adds CUDA sources to a
# target the way ddnet compiles its own. With the CUDA toolkit they go to nvcc (the project must
# have enabled the CUDA language); in an emulated build of ddnet (DDNET_CUDA_SIM in the tree,
# ddnet_CUDA_EMULATED from an installed package) they are compiled as C++ against the CPU
# emulator's cuda_runtime.h, so kernels run, and are checked, on a machine without a GPU.
# EXACT lists the files that must follow their CPU twin's float operations (no FMA contraction).
# Used by the project itself (cmake/DdnetDependencies.cmake) and installed with the package.
function(ddnet_cuda_sources target)
  cmake_parse_arguments(arg "" "" "SOURCES;EXACT" ${ARGN})
  target_sources(${target} PRIVATE ${arg_SOURCES})
  if(DDNET_CUDA_SIM OR ddnet_CUDA_EMULATED)
    # g++ does not know nvcc's #pragma unroll. __shared__ variables are thread-locals there, read
    # on every access: the initial-exec model (static libraries) keeps that a load.
    set(_opts -Wno-unknown-pragmas -ftls-model=initial-exec)
    set_source_files_properties(${arg_SOURCES} TARGET_DIRECTORY ${target}
                                PROPERTIES LANGUAGE CXX COMPILE_OPTIONS "${_opts}")
    if(arg_EXACT)
      set_source_files_properties(${arg_EXACT} TARGET_DIRECTORY ${target}
                                  PROPERTIES COMPILE_OPTIONS "${_opts};-ffp-contract=off")
    endif()
  elseif(arg_EXACT)
    set_source_files_properties(${arg_EXACT} TARGET_DIRECTORY ${target}
                                PROPERTIES COMPILE_OPTIONS "-fmad=false")
  endif()
endfunction()
