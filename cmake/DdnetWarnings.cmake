# Warning flags for every target of ours, -Werror when DDNET_WERROR is on (CI), and sanitizers.
add_library(ddnet_options INTERFACE)
# The warnings (and -Werror) are the project's own: an installed ddnet (cmake/DdnetInstall.cmake)
# passes its users only what they need to compile against it (includes, sanitizers, OpenMP).
target_compile_options(ddnet_options INTERFACE
  $<BUILD_INTERFACE:$<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                            -Wcast-align -Wunused -Woverloaded-virtual -Wnull-dereference
                            -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough>>
  $<BUILD_INTERFACE:$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra --Werror=all-warnings
                             -lineinfo>>
  $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr>)
if(DDNET_WERROR)
  target_compile_options(ddnet_options INTERFACE
    $<BUILD_INTERFACE:$<$<COMPILE_LANGUAGE:CXX>:-Werror> $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Werror>>)
endif()
if(DDNET_SANITIZE)
  target_compile_options(ddnet_options INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all>)
  target_link_options(ddnet_options INTERFACE -fsanitize=address,undefined)
endif()
if(DDNET_LIBFUZZER)
  # Coverage instrumentation for libFuzzer in every library; the fuzz_<target> executables link
  # libFuzzer itself (tests/CMakeLists.txt). Long runs: docs/fuzzing.md.
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "DDNET_LIBFUZZER needs clang (-DCMAKE_CXX_COMPILER=clang++); "
                        "with GCC use the project's own driver, ddnet_fuzz")
  endif()
  target_compile_options(ddnet_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
endif()
if(DDNET_SANITIZE_THREAD)
  target_compile_options(ddnet_options INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=thread -fno-omit-frame-pointer>)
  target_link_options(ddnet_options INTERFACE -fsanitize=thread)
endif()
target_include_directories(ddnet_options INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}> $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/generated>
  $<INSTALL_INTERFACE:include/ddnet>)
if(OpenMP_CXX_FOUND)
  target_link_libraries(ddnet_options INTERFACE OpenMP::OpenMP_CXX)
endif()
