# SPDX-License-Identifier: BSD-3-Clause
# Build the documentation blocks: -DBUILD_DIR= -DGENERATOR= -DTARGETS=a;b
# -DEXES=x;y.
# Old programs go first, so a block that no longer compiles leaves none
# behind. Succeeds even when some blocks fail: their own tests report them.
foreach(exe IN LISTS EXES)
  file(REMOVE "${exe}")
endforeach()
set(keep_going -k)  # make
if(GENERATOR MATCHES "Ninja")
  set(keep_going -k 0)
elseif(NOT GENERATOR MATCHES "Makefiles")
  set(keep_going "")
endif()
if(keep_going)
  set(keep_going -- ${keep_going})
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target ${TARGETS}
                        ${keep_going}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(WARNING "some documentation blocks did not build; their tests fail")
endif()
