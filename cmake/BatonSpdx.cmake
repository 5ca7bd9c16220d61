# SPDX-License-Identifier: BSD-3-Clause
# The SPDX license line of every source file.
#
#   cmake -P cmake/BatonSpdx.cmake            list the files that lack it
#   cmake -DFIX=1 -P cmake/BatonSpdx.cmake    add it to them (first line,
#                                             after a #! line)
#
# Sources: C, C++ and Fortran files, headers and their .in templates, CMake
# files, shell and Python scripts, gnuplot files, Go files, the Makefile,
# pkg-config templates and sanitizer suppression files. Exits 1 when a file
# lacks the line and FIX is not set.
get_filename_component(root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(line "SPDX-License-Identifier: BSD-3-Clause")
file(GLOB_RECURSE files RELATIVE ${root}
     ${root}/*.c ${root}/*.h ${root}/*.h.in ${root}/*.cpp ${root}/*.f90
     ${root}/*.F90 ${root}/*.cmake ${root}/*.cmake.in ${root}/*.pc.in
     ${root}/CMakeLists.txt ${root}/*.sh ${root}/*.py ${root}/*.gp
     ${root}/*.go ${root}/*.supp ${root}/Makefile ${root}/benchmarks/run
     ${root}/.ci/run)
set(missing "")
foreach(f IN LISTS files)
  if(f MATCHES "^(build|results|debian|obj-[^/]*)/|/build/|^\\.git/")
    continue()
  endif()
  file(STRINGS ${root}/${f} head LIMIT_COUNT 3)
  string(FIND "${head}" "SPDX-License-Identifier" at)
  if(at GREATER -1)
    continue()
  endif()
  list(APPEND missing ${f})
  if(NOT FIX)
    continue()
  endif()
  if(f MATCHES "\\.(c|h|h\\.in|cpp)$")
    set(comment "/* ${line} */")
  elseif(f MATCHES "\\.[fF]90$")
    set(comment "! ${line}")
  elseif(f MATCHES "\\.go$")
    set(comment "// ${line}")
  else()
    set(comment "# ${line}")
  endif()
  file(READ ${root}/${f} text)
  if(text MATCHES "^#!")
    string(FIND "${text}" "\n" nl)
    math(EXPR nl "${nl} + 1")
    string(SUBSTRING "${text}" 0 ${nl} shebang)
    string(SUBSTRING "${text}" ${nl} -1 rest)
    file(WRITE ${root}/${f} "${shebang}${comment}\n${rest}")
  else()
    file(WRITE ${root}/${f} "${comment}\n${text}")
  endif()
endforeach()
list(LENGTH missing n)
if(n GREATER 0)
  list(JOIN missing "\n  " names)
  if(FIX)
    message(STATUS "added the SPDX line to ${n} file(s):\n  ${names}")
  else()
    message("${n} file(s) lack '${line}':\n  ${names}\n(cmake -DFIX=1 -P cmake/BatonSpdx.cmake adds it)")
    message(FATAL_ERROR "SPDX lines missing")
  endif()
else()
  message(STATUS "every source file carries the SPDX line")
endif()
