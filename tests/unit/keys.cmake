# TPM keys and quotes: TPMT_PUBLIC <-> OpenSSL, TPMS_ATTEST/TPMT_SIGNATURE
# parsing and verification, tpm2-tools quote files (checked end to end with
# tpm2_checkquote when it is installed).
aicert_add_test(NAME test_tpmkey LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tpmkey.c
  LIBS aicert_shared)
aicert_add_test(NAME test_attest LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_attest.c
  LIBS aicert_shared)
aicert_add_test(NAME test_tpm2tools LABEL unit TIMEOUT 60
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tpm2tools.c
  LIBS aicert_controller_lib aicert_shared)
