# Run test_stats' trace_workload with BATON_TRACE=${TRACE}, then check the
# file ${OUT} it wrote with ${CHECK}.
file(REMOVE ${OUT})
set(ENV{BATON_TRACE} ${TRACE})
set(ENV{BATON_WORKERS} 2)
execute_process(COMMAND ${TEST} trace_workload RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "trace_workload exited with ${rc}")
endif()
execute_process(COMMAND ${PYTHON} ${CHECK} ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_trace.py failed on ${OUT}")
endif()
