# SPDX-License-Identifier: BSD-3-Clause
# Warnings and sanitizers for every baton target (not for users' code).
add_compile_options(
  "$<$<COMPILE_LANGUAGE:C>:-Wall;-Wextra;-Wpedantic;-Wshadow;-Wstrict-prototypes;-Wmissing-prototypes;-Wno-unused-parameter>"
  "$<$<COMPILE_LANGUAGE:Fortran>:-Wall;-Wextra;-Wno-compare-reals>")
if(BATON_WERROR)
  add_compile_options(-Werror)
endif()
if(BATON_SANITIZE)
  add_compile_options(-fsanitize=${BATON_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${BATON_SANITIZE})
endif()
# C11 without GNU extensions, plus the POSIX and Linux interfaces baton uses
# (futex, sched_getaffinity, CPU_COUNT).
add_compile_definitions(_GNU_SOURCE)
