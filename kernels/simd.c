/* SPDX-License-Identifier: BSD-3-Clause */
/* simd.c: which variant of the kernels' loops this process runs. */
#include "simd.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kernels_int.h"

extern const bt__simd_ops bt__simd_ops_generic;
#if BATON_SIMD_VARIANTS
extern const bt__simd_ops bt__simd_ops_avx2;
extern const bt__simd_ops bt__simd_ops_avx512;
#endif

typedef struct variant {
  const char *name;
  const bt__simd_ops *ops;
  const char *needs; /* what the CPU must have, for messages */
} variant;

/* In increasing order; index 0 runs on every CPU this build runs on. */
static const variant variants[] = {
#if BATON_SIMD_VARIANTS
    {"sse2", &bt__simd_ops_generic, "SSE2"},
    {"avx2", &bt__simd_ops_avx2, "AVX2 and FMA"},
    {"avx512", &bt__simd_ops_avx512,
     "AVX-512F, AVX-512VL, AVX-512DQ, AVX2 and FMA"},
#elif defined(BATON_NATIVE)
    {"native", &bt__simd_ops_generic, "the build machine's -march=native"},
#else
    {"generic", &bt__simd_ops_generic, "nothing"},
#endif
};
enum { NVARIANTS = sizeof variants / sizeof variants[0] };

/* The names BATON_SIMD knows, whether or not this build has them. */
static const char *const known[] = {"sse2", "avx2", "avx512"};

int bt__simd_levels(void) {
  return NVARIANTS;
}

const char *bt__simd_level_name(int level) {
  return level >= 0 && level < NVARIANTS ? variants[level].name : "?";
}

int bt__simd_level_supported(int level, const char **why) {
  if (level < 0 || level >= NVARIANTS) {
    if (why) *why = "no such level";
    return 0;
  }
#if BATON_SIMD_VARIANTS
  __builtin_cpu_init();
  int ok = 1;
  if (level >= 1)
    ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (ok && level >= 2)
    ok = __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq");
  if (!ok && why) *why = variants[level].needs;
  return ok;
#else
  return 1;
#endif
}

/* The highest level this CPU runs. */
static int best_supported(void) {
  int best = 0;
  for (int l = 1; l < NVARIANTS; l++)
    if (bt__simd_level_supported(l, NULL)) best = l;
  return best;
}

int bt__simd_parse(const char *value, int supported, int *valid, char *why,
                   unsigned len) {
  if (supported < 0) supported = 0;
  if (supported >= NVARIANTS) supported = NVARIANTS - 1;
  if (valid) *valid = 1;
  if (why && len) why[0] = '\0';
  if (!value || !value[0] || strcasecmp(value, "auto") == 0) {
    if (why) snprintf(why, len, "auto: the highest level this CPU supports");
    return supported;
  }
  for (int l = 0; l < NVARIANTS; l++) {
    if (strcasecmp(value, variants[l].name) != 0) continue;
    if (l <= supported) {
      if (why) snprintf(why, len, "BATON_SIMD=%s", variants[l].name);
      return l;
    }
    if (why)
      snprintf(why, len,
               "BATON_SIMD=%s asks for a level this CPU lacks (it needs %s): "
               "using %s",
               variants[l].name, variants[l].needs, variants[supported].name);
    return supported;
  }
  for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
    if (strcasecmp(value, known[k]) != 0) continue;
    /* A level this build does not have (a native or non-x86 build). */
    if (why)
      snprintf(why, len, "BATON_SIMD=%s: this build has only %s%s: using %s",
               known[k], variants[0].name, NVARIANTS > 1 ? " and up" : "",
               variants[supported].name);
    return supported;
  }
  if (valid) *valid = 0;
  if (why)
    snprintf(why, len,
             "BATON_SIMD='%.40s' is not auto, sse2, avx2 or avx512: using "
             "auto (%s)",
             value, variants[supported].name);
  return supported;
}

/* -1 until resolved. relaxed loads and stores suffice for the level:
 * every thread that resolves it computes the same value from the same
 * environment and CPU, and the tables it indexes are constant. */
static _Atomic int chosen = -1;
static char reason[256];
static _Atomic int reason_ready;

static int resolve(void) {
  int level = atomic_load_explicit(&chosen, memory_order_relaxed);
  if (level >= 0) return level;
  const char *value = getenv("BATON_SIMD");
  char why[sizeof reason];
  int valid;
  int supported = best_supported();
  level = bt__simd_parse(value, supported, &valid, why, sizeof why);
  int asked_other = value && value[0] && strcasecmp(value, "auto") != 0 &&
                    strcasecmp(value, variants[level].name) != 0;
  /* The first thread to resolve writes the reason and says it once. */
  int expected = 0;
  /* acq_rel: the winner's release publishes `reason`; pairs with the
   * acquire load in bt__simd_reason(). */
  if (atomic_compare_exchange_strong_explicit(&reason_ready, &expected, 1,
                                              memory_order_acq_rel,
                                              memory_order_acquire)) {
    memcpy(reason, why, sizeof reason);
    atomic_store_explicit(&reason_ready, 2, memory_order_release);
    if (asked_other || !valid) fprintf(stderr, "baton: %s\n", why);
  }
  atomic_store_explicit(&chosen, level, memory_order_relaxed);
  return level;
}

int bt__simd_level(void) {
  return resolve();
}

const bt__simd_ops *bt__simd(void) {
  return variants[resolve()].ops;
}

const char *bt__simd_reason(void) {
  (void)resolve();
  /* acquire: pairs with the release store in resolve(). */
  if (atomic_load_explicit(&reason_ready, memory_order_acquire) != 2)
    return "being chosen";
  return reason;
}

int bt__simd_force(int level) {
  if (level < 0 || level >= NVARIANTS)
    return bt__fail(BT_EINVAL, "SIMD level %d: this build has levels 0-%d",
                    level, NVARIANTS - 1);
  const char *why;
  if (!bt__simd_level_supported(level, &why))
    return bt__fail(BT_ENOTSUP, "SIMD level %s: this CPU lacks %s",
                    variants[level].name, why);
  (void)resolve();
  atomic_store_explicit(&chosen, level, memory_order_relaxed);
  return BT_OK;
}
