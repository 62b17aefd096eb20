/* The aicert command line: one file per subcommand, dispatched from one
 * table in cli.c. */
#ifndef AICERT_CLI_H
#define AICERT_CLI_H

/* Exit codes: the verifier's meaning, used by every subcommand. */
enum {
	CLI_EXIT_OK = 0,     /* done / verified */
	CLI_EXIT_FAILED = 1, /* the operation failed / the proof was rejected */
	CLI_EXIT_USAGE = 2,  /* bad usage or unusable input */
};

struct cli_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand's name */
};

int cli_main(int argc, char **argv);

/* Reports err_msg(r) as an error and returns the exit code for r. */
int cli_fail(int r);

int cmd_agent(int argc, char **argv);
int cmd_ca(int argc, char **argv);
int cmd_enroll(int argc, char **argv);
int cmd_attest(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_run(int argc, char **argv);

struct aicert_result;
/* The verifier's checks and verdict, as `aicert verify` prints them. */
void verify_print(const struct aicert_result *res, const char *proof);

#endif
