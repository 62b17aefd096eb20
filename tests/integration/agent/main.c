/* aicert-agent as a process against a real swtpm, through the RPC client and
 * the generated stubs: every method, the network listener's mutual TLS,
 * malformed input, concurrency, restarts, resends and configuration.
 *
 * Groups: agent_methods (methods.c) and agent_tls (tls.c) share one TPM and
 * one agent per group (their tests only add records to the runtime log, so
 * they count from what they find); agent_lifecycle (lifecycle.c) and
 * agent_config (config.c) start a TPM per test. Pass group names as
 * arguments to run only those. The shared fixture and helpers are in
 * fixture.c.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>

#include "fixture.h"

static const struct agent_group *const groups[] = {
	&methods_group,
	&tls_group,
	&lifecycle_group,
	&config_group,
};

/* Every group without arguments, else those named. */
static bool selected(const struct agent_group *g, int argc, char **argv)
{
	bool run = argc < 2;

	for (int i = 1; i < argc; i++)
		run |= strcmp(argv[i], g->name) == 0;
	return run;
}

int main(int argc, char **argv)
{
	int failed = 0;

	/* A peer that drops a connection must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		const struct agent_group *g = groups[i];

		if (selected(g, argc, argv))
			failed += _cmocka_run_group_tests(g->name, g->tests, g->n, g->setup,
							  g->teardown);
	}
	/* nng tears pipes down in its own threads: wait for them, or
	 * LeakSanitizer reports what a dropped connection had not yet freed. */
	nng_fini();
	return failed;
}
