# The proof file and the policy: the verifier's parsers of untrusted input.
aicert_add_fuzzer(fuzz_proof ${CMAKE_CURRENT_LIST_DIR}/fuzz_proof.c)
aicert_add_fuzzer(fuzz_policy ${CMAKE_CURRENT_LIST_DIR}/fuzz_policy.c)
