# An attested training run at the library level: local runner, enrollment,
# the executor measuring the example job, a proof, the verifier with --model.
aicert_add_test(NAME test_training_run LABEL integration TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_training_run.c
  LIBS aicert_controller_lib aicert_agent_lib aicert_harness)
add_dependencies(test_training_run aicert-agent aicert tiny_finetune_train)
