# `cmake --install` for outside projects: headers under include/ddnet (included as in the tree,
# "engine/tensor.h"), the static libraries, the `ddnet` command, and a versioned package
# (lib/cmake/ddnet/ddnetConfig.cmake) with imported targets ddnet::engine, ddnet::kernels,
# ddnet::layers, ddnet::graph, ddnet::models, ddnet::data, ddnet::dist and ddnet::tools.
# The package finds the same dependencies again on the user's side (docs/using-ddnet.md).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DDNET_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/ddnet)

set(_ddnet_export_targets ddnet_options ddnet_engine ddnet_kernels ddnet_layers ddnet_graph
                          ddnet_models ddnet_data ddnet_dist ddnet_cli)
set_target_properties(ddnet_options PROPERTIES EXPORT_NAME options)
foreach(_t engine kernels layers graph models data dist)
  set_target_properties(ddnet_${_t} PROPERTIES EXPORT_NAME ${_t})
endforeach()
set_target_properties(ddnet_cli PROPERTIES EXPORT_NAME tools)
if(DDNET_CUDA_SIM)
  # The emulator stands where the CUDA runtime, cuDNN and NCCL would: an emulated install lets an
  # outside project test its CUDA kernels on the CPU (examples/fused_op).
  list(APPEND _ddnet_export_targets ddnet_sim)
  set_target_properties(ddnet_sim PROPERTIES EXPORT_NAME cuda_emulator)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/tests/sim/include/
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ddnet/emulator)
endif()

install(TARGETS ${_ddnet_export_targets} EXPORT ddnetTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ddnet)
install(TARGETS ddnet RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(_dir engine kernels layers graph models data dist tools)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${_dir} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ddnet
          FILES_MATCHING PATTERN "*.h" PATTERN "*.cuh")
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/generated/generated/ddnet_config.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ddnet/generated)
install(EXPORT ddnetTargets NAMESPACE ddnet:: DESTINATION ${DDNET_INSTALL_CMAKEDIR})

# What the config file needs to find the same dependencies again.
foreach(_v HAVE_CUDA HAVE_CUDNN HAVE_NCCL HAVE_DNNL HAVE_FFTW HAVE_ITK CUDA_SIM SANITIZE)
  if(DDNET_${_v})
    set(DDNET_PKG_${_v} ON)
  else()
    set(DDNET_PKG_${_v} OFF)
  endif()
endforeach()
set(DDNET_PKG_HAVE_MPI ${MPI_C_FOUND})
if(NOT DDNET_PKG_HAVE_MPI)
  set(DDNET_PKG_HAVE_MPI OFF)
endif()
set(DDNET_PKG_OPENMP ${OpenMP_CXX_FOUND})
if(NOT DDNET_PKG_OPENMP)
  set(DDNET_PKG_OPENMP OFF)
endif()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ddnetConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/ddnetConfig.cmake
                              INSTALL_DESTINATION ${DDNET_INSTALL_CMAKEDIR})
# 0.x: a minor version may break the API, so only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ddnetConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ddnetConfig.cmake ${PROJECT_BINARY_DIR}/ddnetConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/ddnetCudaSources.cmake
        DESTINATION ${DDNET_INSTALL_CMAKEDIR})
