# SPDX-License-Identifier: BSD-3-Clause
# Run one documentation block: -DEXE=program -DRUN=0|1
# [-DPREFIX=mpiexec|-n|2]: the launcher, its words separated by |.
if(NOT EXISTS "${EXE}")
  message(FATAL_ERROR "${EXE} was not built: the block does not compile or "
                      "link (the output of the test docs.build says why)")
endif()
if(RUN)
  string(REPLACE "|" ";" PREFIX "${PREFIX}")
  execute_process(COMMAND ${PREFIX} "${EXE}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${EXE} exited with ${rc}")
  endif()
endif()
