aicert_add_fuzzer(fuzz_rpc ${CMAKE_CURRENT_LIST_DIR}/fuzz_rpc.c)
target_include_directories(fuzz_rpc PRIVATE ${PROJECT_SOURCE_DIR}/shared)
