/* SPDX-License-Identifier: BSD-3-Clause */
/* simd_avx512.c: the kernels' loops (simd_body.h) compiled for the avx512 level
 * (flags: kernels/CMakeLists.txt). */
#define BT_SIMD_SUFFIX avx512
#include "simd_body.h"
