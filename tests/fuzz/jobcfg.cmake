# The job file of `aicert run`: jobcfg_parse over arbitrary bytes, and the
# invariants of every accepted job. Seeds: the shipped example and variants
# covering each runner and input source.
aicert_add_fuzzer(fuzz_jobcfg ${CMAKE_CURRENT_LIST_DIR}/fuzz_jobcfg.c)
