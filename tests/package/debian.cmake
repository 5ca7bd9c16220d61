# SPDX-License-Identifier: BSD-3-Clause
# debian/: build the binary packages with dpkg-buildpackage -us -uc -b from a
# copy of the source tree, check them with lintian (no error allowed), and
# look inside: the versioned shared libraries in the multiarch libdir, the
# .pc and CMake files in libbaton-dev, baton-info in baton-tools.
# Arguments: SOURCE (the baton tree), WORK.
file(REMOVE_RECURSE ${WORK})
set(src ${WORK}/baton-0.1.0)
file(MAKE_DIRECTORY ${src})
file(GLOB entries RELATIVE ${SOURCE} ${SOURCE}/* ${SOURCE}/.clang-format)
foreach(entry IN LISTS entries)
  if(entry MATCHES "^(build|results|\\.git|obj-.*)$")
    continue()
  endif()
  file(COPY ${SOURCE}/${entry} DESTINATION ${src})
endforeach()

set(ENV{DEB_BUILD_OPTIONS} "nocheck parallel=2")
execute_process(COMMAND dpkg-buildpackage -us -uc -b
                WORKING_DIRECTORY ${src} RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc)
  message(FATAL_ERROR "dpkg-buildpackage failed (${rc}):\n${out}\n${err}")
endif()
file(GLOB debs ${WORK}/*.deb)
list(LENGTH debs ndebs)
if(ndebs LESS 3)
  message(FATAL_ERROR "expected 3 packages, got: ${debs}")
endif()

execute_process(COMMAND lintian --fail-on error --no-tag-display-limit ${debs}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("lintian:\n${out}${err}")
if(rc)
  message(FATAL_ERROR "lintian reports errors (above)")
endif()

set(contents "")
foreach(deb IN LISTS debs)
  execute_process(COMMAND dpkg-deb -c ${deb} OUTPUT_VARIABLE out)
  string(APPEND contents "${out}")
endforeach()
foreach(want "/usr/lib/[^/]+-linux-gnu[^/]*/libbaton\\.so\\.0\\.1\\.0"
             "/usr/lib/[^/]+/pkgconfig/baton\\.pc"
             "/usr/lib/[^/]+/cmake/baton/batonConfig\\.cmake"
             "/usr/include/baton/runtime\\.h" "/usr/bin/baton-info")
  if(NOT contents MATCHES "${want}")
    message(FATAL_ERROR "no file matching ${want} in the packages:\n${contents}")
  endif()
endforeach()
message(STATUS "packages built and lintian-clean of errors: ${debs}")
