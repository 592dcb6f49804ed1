# Cross-build for arm64 (Raspberry Pi 3/4/5, Rockchip boards, ARM NAS boxes)
# on Debian with multiarch:
#   dpkg --add-architecture arm64 && .ci/install-deps arm64
#   cmake -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake
# The unit tests run under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR), so
# `ctest --test-dir build-arm64 -L unit` works on an amd64 machine.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(NP_TRIPLET aarch64-linux-gnu)
set(NP_DEB_ARCH arm64)

set(CMAKE_C_COMPILER ${NP_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${NP_TRIPLET}-g++)
# Multiarch: headers in /usr/include (shared) and /usr/include/<triplet>,
# libraries in /usr/lib/<triplet>; pkg-config must look only there.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${NP_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_LIBRARY_ARCHITECTURE ${NP_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_FIND_ROOT_PATH / /usr/${NP_TRIPLET})

find_program(NP_QEMU NAMES qemu-aarch64-static qemu-aarch64)
if(NP_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${NP_QEMU} -L /usr/${NP_TRIPLET})
endif()
