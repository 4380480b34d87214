# The HIP side of the build (included by the top CMakeLists.txt).
#
# 1. The HIP emulator and its `hip-emu` backend are part of the addon on every
#    machine: native/src/hip_emu/** is globbed with the rest of native/src and
#    compiles kernels/*.hip as host C++ (kernels_emu.cc includes them).
# 2. The real HIP backend (native/hip/ host code + kernels/*.hip for AMD) is a
#    SEPARATE library, libhipserve_hip.so, that the addon dlopens at run time:
#    linking libamdhip64 into the addon would make the addon fail to load on
#    machines without ROCm. It is built by scripts/build-hip-amd.sh, the same
#    recipe CI runs, when:
#      HIPSERVE_HIP=AUTO  (default) a ROCm installation's hipcc is found
#                         ($ROCM_PATH/bin or /opt/rocm/bin). Debian's /usr/bin/hipcc
#                         does not count: CI compiles with it through the script
#                         directly, and every developer build of the addon on a
#                         machine with Debian's hipcc would otherwise run hipcc
#                         for minutes.
#      HIPSERVE_HIP=ON    any hipcc (PATH included) must be found, else configuring fails
#      HIPSERVE_HIP=OFF   never
#    HIPSERVE_HIP_ARCHS lists the offload targets. rocBLAS is used when
#    /opt/rocm/include/rocblas/rocblas.h exists (not packaged in Debian 12).
set(HIPSERVE_HIP "AUTO" CACHE STRING "Build the ROCm HIP backend library: AUTO, ON or OFF")
set_property(CACHE HIPSERVE_HIP PROPERTY STRINGS AUTO ON OFF)
# The environment variable of the same name wins (npm ci passes no -D flags).
if(DEFINED ENV{HIPSERVE_HIP_ARCHS} AND NOT "$ENV{HIPSERVE_HIP_ARCHS}" STREQUAL "")
  set(HIPSERVE_HIP_ARCHS "$ENV{HIPSERVE_HIP_ARCHS}" CACHE STRING "AMD offload targets of the HIP backend" FORCE)
else()
  set(HIPSERVE_HIP_ARCHS "gfx90a;gfx1030" CACHE STRING "AMD offload targets of the HIP backend")
endif()

target_include_directories(${PROJECT_NAME} PRIVATE ${CMAKE_SOURCE_DIR}/kernels)

if(NOT HIPSERVE_HIP STREQUAL "OFF")
  # Searched afresh at each configure: a build directory configured before
  # this rule must not keep a Debian hipcc it found then.
  unset(HIPSERVE_HIPCC CACHE)
  set(HIPSERVE_ROCM_BINS /opt/rocm/bin)
  if(DEFINED ENV{ROCM_PATH} AND NOT "$ENV{ROCM_PATH}" STREQUAL "")
    list(PREPEND HIPSERVE_ROCM_BINS "$ENV{ROCM_PATH}/bin")  # unset ROCM_PATH must not mean /bin
  endif()
  if(HIPSERVE_HIP STREQUAL "ON")
    find_program(HIPSERVE_HIPCC hipcc HINTS ${HIPSERVE_ROCM_BINS})
  else()
    find_program(HIPSERVE_HIPCC hipcc PATHS ${HIPSERVE_ROCM_BINS} NO_DEFAULT_PATH)
  endif()
  if(HIPSERVE_HIPCC)
    set(HIPSERVE_HIP_OUT ${CMAKE_BINARY_DIR}/hip)
    message(STATUS "hipserve: HIP backend library for ${HIPSERVE_HIP_ARCHS} with ${HIPSERVE_HIPCC}")
    add_custom_target(hipserve_hip ALL
      COMMAND ${CMAKE_COMMAND} -E env
        "HIPSERVE_HIP_ARCHS=${HIPSERVE_HIP_ARCHS}" "HIPSERVE_HIP_OUT=${HIPSERVE_HIP_OUT}"
        bash ${CMAKE_SOURCE_DIR}/scripts/build-hip-amd.sh
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
      BYPRODUCTS ${HIPSERVE_HIP_OUT}/libhipserve_hip.so
      COMMENT "hipcc: kernels/*.hip and native/hip for ${HIPSERVE_HIP_ARCHS}"
      VERBATIM)
    # Where the addon looks first for the library (HIPSERVE_HIP_LIB overrides).
    target_compile_definitions(${PROJECT_NAME} PRIVATE
      HIPSERVE_HIP_LIB_DEFAULT="${HIPSERVE_HIP_OUT}/libhipserve_hip.so")
  elseif(HIPSERVE_HIP STREQUAL "ON")
    message(FATAL_ERROR "HIPSERVE_HIP=ON but hipcc was not found (set ROCM_PATH or install ROCm)")
  else()
    message(STATUS "hipserve: no ROCm hipcc, the HIP backend library is not built (the emulator is)")
  endif()
endif()

# 3. libhipserve_hip_emu.so, for the tests: libhipserve_hip.so's C ABI
#    (native/hip/backend_api.cc and the device forward) built against the
#    emulator instead of ROCm. With HIPSERVE_HIP_LIB pointing at it, the addon
#    takes the very path `--device hip` takes on a GPU machine (dlopen, the C
#    ABI of hip_library.cc) and test/hip/hip-library.test.ts runs it without a
#    GPU, and test/hip/kernel-timing.test.ts its kernel timing entry point
#    (native/hip/kernel_timing.cc). Its emulator is a second, private copy
#    (hidden symbols, -Bsymbolic): nothing is shared with the addon's own.
option(HIPSERVE_HIP_EMU_LIB "Build libhipserve_hip_emu.so (the HIP C ABI on the emulator, for tests)" ON)
if(HIPSERVE_HIP_EMU_LIB)
  add_library(hipserve_hip_emu SHARED
    ${CMAKE_SOURCE_DIR}/native/hip/backend_api.cc
    ${CMAKE_SOURCE_DIR}/native/hip/device_model.cc
    ${CMAKE_SOURCE_DIR}/native/hip/device_forward.cc
    ${CMAKE_SOURCE_DIR}/native/hip/kernel_timing.cc
    ${CMAKE_SOURCE_DIR}/native/src/hip_emu/memory.cc
    ${CMAKE_SOURCE_DIR}/native/src/hip_emu/runtime.cc
    ${CMAKE_SOURCE_DIR}/native/src/hip_emu/fiber.cc
    ${CMAKE_SOURCE_DIR}/native/src/hip_emu/context.cc
    ${CMAKE_SOURCE_DIR}/native/src/hip_emu/rocblas.cc
    ${CMAKE_SOURCE_DIR}/native/src/hip_emu/kernels_emu.cc
    ${CMAKE_SOURCE_DIR}/native/src/cpu/dtype.cc)
  target_include_directories(hipserve_hip_emu PRIVATE ${CMAKE_JS_INC} ${NODE_ADDON_API_DIR}
    ${CMAKE_SOURCE_DIR}/native/src ${CMAKE_SOURCE_DIR}/kernels)
  target_compile_options(hipserve_hip_emu PRIVATE -Wall -Wextra -O2 -fno-math-errno)
  if(HIPSERVE_WERROR)
    target_compile_options(hipserve_hip_emu PRIVATE -Werror)
  endif()
  set_target_properties(hipserve_hip_emu PROPERTIES CXX_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/Release OUTPUT_NAME hipserve_hip_emu)
  target_link_options(hipserve_hip_emu PRIVATE -Wl,-Bsymbolic)
  target_link_libraries(hipserve_hip_emu PRIVATE Threads::Threads)
endif()
