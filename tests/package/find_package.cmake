# SPDX-License-Identifier: BSD-3-Clause
# Configure, build and run tests/package/downstream against the staged
# install, as a user's project would.
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}
                        -DCMAKE_PREFIX_PATH=${STAGE} -DWITH_MPI=${MPI}
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "downstream configure failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "downstream build failed: ${rc}")
endif()
execute_process(COMMAND ${WORK}/app RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message("${out}")
if(rc)
  message(FATAL_ERROR "downstream app failed: ${rc}")
endif()
