# SPDX-License-Identifier: BSD-3-Clause
# The MPI side of packaging: build tests/package/downstream/app_mpi.c against
# the staged install twice, with find_package(baton) (baton::mpi) and with
# pkg-config (baton-mpi) under mpicc, and run each under mpiexec -np 2.
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/cmake
                        -DCMAKE_PREFIX_PATH=${STAGE} -DWITH_MPI=1
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "downstream (MPI) configure failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK}/cmake
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "downstream (MPI) build failed: ${rc}")
endif()

file(GLOB pcdir ${STAGE}/lib*/pkgconfig)
list(GET pcdir 0 pcdir)
set(ENV{PKG_CONFIG_PATH} "${pcdir}")
execute_process(COMMAND pkg-config --cflags --libs baton-mpi
                OUTPUT_VARIABLE flags RESULT_VARIABLE rc
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(rc)
  message(FATAL_ERROR "pkg-config baton-mpi failed: ${rc}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
execute_process(COMMAND ${MPICC} -std=c11 -o ${WORK}/app_mpi_pc
                        ${SOURCE}/app_mpi.c ${flags}
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "mpicc with pkg-config baton-mpi failed: ${rc}")
endif()

foreach(app ${WORK}/cmake/app_mpi ${WORK}/app_mpi_pc)
  execute_process(COMMAND ${MPIEXEC} -np 2 ${app}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${app}:\n${out}${err}")
  if(rc)
    message(FATAL_ERROR "${app} under ${MPIEXEC} -np 2 failed: ${rc}")
  endif()
  if(NOT out MATCHES "rank 0 of 2" OR NOT out MATCHES "rank 1 of 2")
    message(FATAL_ERROR "${app}: expected both ranks to report")
  endif()
endforeach()
