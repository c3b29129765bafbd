# Finds every dependency; a missing one stops configure naming the Debian package to install.
# scripts/bootstrap installs all of them. A build of the trainer alone (STAGE_WITH_STAGING=OFF, as
# scripts/gpu-check makes on a GPU machine) needs neither pkg-config nor the staging libraries.

if(STAGE_WITH_STAGING)
  find_package(PkgConfig)
  if(NOT PKG_CONFIG_FOUND)
    message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config (or run scripts/bootstrap)")
  endif()

  # stage_require_pkg(NAME MODULE DEBIAN_PACKAGE): an imported target PkgConfig::NAME or a clear stop.
  macro(stage_require_pkg name module package)
    pkg_check_modules(${name} IMPORTED_TARGET ${module})
    if(NOT ${name}_FOUND)
      message(FATAL_ERROR "${module} not found: apt-get install ${package} (or run scripts/bootstrap)")
    endif()
  endmacro()

  stage_require_pkg(LIBARCHIVE libarchive libarchive-dev)
  stage_require_pkg(LIBURING liburing liburing-dev)
  stage_require_pkg(ISAL libisal libisal-dev)
  stage_require_pkg(ZSTD libzstd libzstd-dev)
  stage_require_pkg(LIBCRYPTO libcrypto libssl-dev)
  # stage fetch: HTTP(S) with TLS verification, redirects and ranges.
  stage_require_pkg(LIBCURL libcurl libcurl4-openssl-dev)
  if(STAGE_WITH_TESTS)
    # The tests' FUSE filesystem, which plays a slow or failing persistent disk.
    stage_require_pkg(FUSE3 fuse3 libfuse3-dev)
  endif()
  find_package(ZLIB)
  if(NOT ZLIB_FOUND)
    message(FATAL_ERROR "zlib not found: apt-get install zlib1g-dev (or run scripts/bootstrap)")
  endif()
endif()
find_package(Threads REQUIRED)

# Boost's own BoostConfig.cmake (Debian 12's 1.74 and 13's 1.83 both ship it), not CMake's
# FindBoost, which CMake 3.30 (Debian 13) warns is removed.
if(POLICY CMP0167)
  cmake_policy(SET CMP0167 NEW)
endif()
find_package(Boost COMPONENTS program_options)
if(NOT Boost_PROGRAM_OPTIONS_FOUND)
  message(FATAL_ERROR "Boost.Program_options not found: apt-get install libboost-program-options-dev")
endif()
find_package(nlohmann_json 3)
if(NOT nlohmann_json_FOUND)
  message(FATAL_ERROR "nlohmann-json not found: apt-get install nlohmann-json3-dev")
endif()

if(STAGE_WITH_LOADER)
  # OpenCV's core and imgproc only (the image type and colour conversions); images are decoded
  # and encoded with libjpeg-turbo, libpng and giflib. Found by file rather than by
  # OpenCVConfig.cmake, which insists on every module's library being present.
  find_path(OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4)
  find_library(OPENCV_CORE_LIBRARY opencv_core)
  find_library(OPENCV_IMGPROC_LIBRARY opencv_imgproc)
  if(NOT OPENCV_INCLUDE_DIR OR NOT OPENCV_CORE_LIBRARY OR NOT OPENCV_IMGPROC_LIBRARY)
    message(FATAL_ERROR "OpenCV core/imgproc not found: apt-get install libopencv-core-dev "
                        "libopencv-imgproc-dev, or -DSTAGE_WITH_LOADER=OFF")
  endif()
  add_library(stage_opencv INTERFACE IMPORTED)
  target_include_directories(stage_opencv INTERFACE ${OPENCV_INCLUDE_DIR})
  target_link_libraries(stage_opencv INTERFACE ${OPENCV_IMGPROC_LIBRARY} ${OPENCV_CORE_LIBRARY})

  find_library(GIF_LIBRARY gif)
  find_path(GIF_INCLUDE_DIR gif_lib.h)
  if(NOT GIF_LIBRARY OR NOT GIF_INCLUDE_DIR)
    message(FATAL_ERROR "giflib not found: apt-get install libgif-dev, or -DSTAGE_WITH_LOADER=OFF")
  endif()
  find_package(JPEG)
  if(NOT JPEG_FOUND)
    message(FATAL_ERROR "libjpeg-turbo not found: apt-get install libjpeg62-turbo-dev, or -DSTAGE_WITH_LOADER=OFF")
  endif()
  find_package(PNG)
  if(NOT PNG_FOUND)
    message(FATAL_ERROR "libpng not found: apt-get install libpng-dev, or -DSTAGE_WITH_LOADER=OFF")
  endif()
  find_package(Torch QUIET)
  if(NOT Torch_FOUND)
    message(FATAL_ERROR "LibTorch not found: apt-get install libtorch-dev (CPU), or pass "
                        "-DCMAKE_PREFIX_PATH=/path/to/libtorch for a CUDA build, or -DSTAGE_WITH_LOADER=OFF")
  endif()
  # TorchConfig looks for libc10 with find_library, which searches the system's folders before
  # LibTorch's own: with Debian's libtorch-dev installed beside a pip or downloaded LibTorch it
  # picks Debian's libc10 1.13, and every program then dies at start in c10's DispatchKeySet.
  set(_stage_own_c10 "${TORCH_INSTALL_PREFIX}/lib/libc10.so")
  if(c10_LIBRARY AND EXISTS "${_stage_own_c10}" AND NOT c10_LIBRARY STREQUAL _stage_own_c10)
    list(FIND TORCH_LIBRARIES "${c10_LIBRARY}" _stage_at)
    if(_stage_at GREATER_EQUAL 0)
      list(REMOVE_AT TORCH_LIBRARIES ${_stage_at})
      list(INSERT TORCH_LIBRARIES ${_stage_at} "${_stage_own_c10}")
    endif()
    message(STATUS "LibTorch's own libc10 instead of ${c10_LIBRARY}: ${_stage_own_c10}")
  endif()
  # pip's libtorch.so exports copies of some libstdc++ functions (std::filesystem::remove_all
  # among them) built by a newer GCC; a program that loads it before libstdc++ binds its own calls
  # to those copies, which jump to address 0 here. Naming libstdc++ first makes the system's win.
  add_link_options("LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state")
  # Data-parallel training: LibTorch's c10d with Gloo needs Gloo's headers, which Debian ships
  # apart from libtorch-dev. NCCL is used where the LibTorch in use was built with CUDA and has it.
  find_path(TORCH_NCCL_INCLUDE_DIR torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp
            HINTS ${TORCH_INCLUDE_DIRS})
  if(TORCH_CUDA_LIBRARIES)
    set(STAGE_TORCH_HAS_CUDA ON)
  else()
    set(STAGE_TORCH_HAS_CUDA OFF)
  endif()
  if(TORCH_CUDA_LIBRARIES AND TORCH_NCCL_INCLUDE_DIR)
    set(STAGE_TORCH_HAS_NCCL ON)
  else()
    set(STAGE_TORCH_HAS_NCCL OFF)
  endif()
  find_path(GLOO_INCLUDE_DIR gloo/config.h HINTS ${TORCH_INCLUDE_DIRS})
  if(GLOO_INCLUDE_DIR)
    set(STAGE_TORCH_HAS_GLOO ON)
  elseif(STAGE_TORCH_HAS_NCCL)
    # A CUDA build still trains data-parallel, on NCCL alone.
    set(STAGE_TORCH_HAS_GLOO OFF)
    message(WARNING "Gloo headers not found: data-parallel runs use NCCL only (apt-get install "
                    "libgloo-dev, or pass its include directory as -DGLOO_INCLUDE_DIR=...)")
  else()
    message(FATAL_ERROR "Gloo headers not found (c10d's Gloo process group needs them): "
                        "apt-get install libgloo-dev, or -DSTAGE_WITH_LOADER=OFF")
  endif()
  if(STAGE_REQUIRE_CUDA AND NOT (STAGE_TORCH_HAS_CUDA AND STAGE_TORCH_HAS_NCCL))
    message(FATAL_ERROR "STAGE_REQUIRE_CUDA: the LibTorch found (${TORCH_INSTALL_PREFIX}) has "
                        "CUDA ${STAGE_TORCH_HAS_CUDA}, NCCL ${STAGE_TORCH_HAS_NCCL}; point "
                        "CMAKE_PREFIX_PATH at a CUDA LibTorch (scripts/test-cuda does)")
  endif()
  # The Python whose torch is this LibTorch, for tests that compare with it: the environment's
  # own interpreter for a pip wheel, Debian's python3 for libtorch-dev.
  set(_stage_python /usr/bin/python3)
  if(TORCH_INSTALL_PREFIX MATCHES "^(.*)/lib/python3[.0-9]*/(site|dist)-packages/torch$"
     AND EXISTS "${CMAKE_MATCH_1}/bin/python3")
    set(_stage_python "${CMAKE_MATCH_1}/bin/python3")
  endif()
  set(STAGE_TORCH_PYTHON "${_stage_python}" CACHE FILEPATH "Python with the torch of this LibTorch")
  message(STATUS "LibTorch ${Torch_VERSION}: CUDA ${STAGE_TORCH_HAS_CUDA}, Gloo process groups "
                 "${STAGE_TORCH_HAS_GLOO}, NCCL ${STAGE_TORCH_HAS_NCCL}")
endif()

if(STAGE_WITH_TESTS)
  find_package(GTest)
  if(NOT GTest_FOUND)
    message(FATAL_ERROR "GoogleTest not found: apt-get install libgtest-dev libgmock-dev")
  endif()
endif()
if(STAGE_WITH_BENCH)
  find_package(benchmark)
  if(NOT benchmark_FOUND)
    message(FATAL_ERROR "Google Benchmark not found: apt-get install libbenchmark-dev")
  endif()
endif()
