# Quotes and TPM keys: attest_parse, attest_parse_signature, tpmkey_parse_public
# and what is done with their results. The seeds in corpus/fuzz_attest/ come
# from `AICERT_ATTEST_WRITE_CORPUS=DIR test_attest`.
aicert_add_fuzzer(fuzz_attest ${CMAKE_CURRENT_LIST_DIR}/fuzz_attest.c)
