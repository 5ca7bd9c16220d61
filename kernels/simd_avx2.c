/* SPDX-License-Identifier: BSD-3-Clause */
/* simd_avx2.c: the kernels' loops (simd_body.h) compiled for the avx2 level
 * (flags: kernels/CMakeLists.txt). */
#define BT_SIMD_SUFFIX avx2
#include "simd_body.h"
