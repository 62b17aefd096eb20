# The local runner backend against the real swtpm and the agent of this
# build: start, Health/Identity, stop, keep, two at once, a dying owner,
# a bad agent.
aicert_add_test(NAME test_runner_local LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_runner_local.c
  LIBS aicert_controller_lib)
add_dependencies(test_runner_local aicert-agent)
