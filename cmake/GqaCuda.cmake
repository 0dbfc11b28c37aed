# Detects nvcc. With it, the CUDA targets build for sm_80 and sm_90 and link
# cuBLAS and NCCL; without it (or with GQA_WITH_CUDA=OFF) nvcc never runs.
set(GQA_HAVE_CUDA OFF)
if(GQA_WITH_CUDA)
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # 'native' fails without a GPU; nvcc 13 rejects sm_70.
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    # One CUDA runtime per process: the shared one, which CUDA::cudart links
    # too (the default static runtime would put a second copy beside it).
    set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
    enable_language(CUDA)
    set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 does not know nvcc 13 supports C++20
    find_package(CUDAToolkit REQUIRED)
    find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} REQUIRED)
    find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} REQUIRED)
    set(GQA_HAVE_CUDA ON)
  endif()
endif()
message(STATUS "gqaserve CUDA backend: ${GQA_HAVE_CUDA}")
