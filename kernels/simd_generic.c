/* SPDX-License-Identifier: BSD-3-Clause */
/* simd_generic.c: the kernels' loops (simd_body.h) compiled for the generic
 * level (flags: kernels/CMakeLists.txt). */
#define BT_SIMD_SUFFIX generic
#include "simd_body.h"
