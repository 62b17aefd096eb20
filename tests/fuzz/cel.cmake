# The runtime event log decoder.
aicert_add_fuzzer(fuzz_cel ${CMAKE_CURRENT_LIST_DIR}/fuzz_cel.c)
