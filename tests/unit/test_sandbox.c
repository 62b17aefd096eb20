/* The training command's sandbox: output, exit status, setup failures,
 * timeouts that leave nothing behind, a hidden agent socket, no network,
 * no new privileges, only the given environment. Needs namespaces (root or
 * unprivileged user namespaces), no TPM. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "sandbox.h"

struct capture {
	char out[8192];
	size_t n;
};

static void capture(void *ctx, enum sandbox_stream s, const char *buf, size_t len)
{
	struct capture *c = ctx;

	if (c->n + len < sizeof(c->out)) {
		memcpy(c->out + c->n, buf, len);
		c->n += len;
		c->out[c->n] = '\0';
	}
}

static int run_sh(const char *script, bool network, const char *const *hide, uint32_t timeout,
		  struct capture *c, int *status)
{
	const char *argv[] = {"sh", "-c", script, NULL};
	const char *env[] = {"PATH=/usr/bin:/bin", "ONLY=this", NULL};
	struct sandbox_opts o = {.argv = argv,
				 .envp = env,
				 .network = network,
				 .hide = hide,
				 .timeout_ms = timeout,
				 .uid = 65534,
				 .gid = 65534,
				 .output = capture,
				 .ctx = c};

	memset(c, 0, sizeof(*c));
	return sandbox_run(&o, status);
}

static void sandbox_streams_output_and_status(void **state)
{
	struct capture c;
	int st = -1;

	assert_int_equal(run_sh("echo out; echo err >&2; exit 3", false, NULL, 0, &c, &st), 0);
	assert_int_equal(st, 3);
	assert_non_null(strstr(c.out, "out\n"));
	assert_non_null(strstr(c.out, "err\n"));
	/* The shell is the namespace's init, which ignores SIGTERM: a child
	 * shows how a signal ends a command. */
	assert_int_equal(run_sh("sh -c 'kill -TERM $$'", false, NULL, 0, &c, &st), 0);
	assert_int_equal(st, 128 + 15);
}

static void sandbox_reports_setup_failures(void **state)
{
	const char *argv[] = {"/nonexistent/aicert-command", NULL};
	struct sandbox_opts o = {.argv = argv, .uid = 65534, .gid = 65534};
	int st = -1, r;

	r = sandbox_run(&o, &st);
	assert_int_equal(r, AICERT_ERR_UNAVAILABLE);
	assert_non_null(strstr(err_msg(r), "/nonexistent/aicert-command"));
	o.argv = (const char *const[]){"true", NULL};
	o.workdir = "/nonexistent-dir";
	r = sandbox_run(&o, &st);
	assert_int_equal(r, AICERT_ERR_UNAVAILABLE);
	assert_non_null(strstr(err_msg(r), "/nonexistent-dir"));
}

/* True when a process whose command line holds marker is alive anywhere. */
static bool process_alive(const char *marker)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	bool found = false;

	while (d && (e = readdir(d)) && !found) {
		char path[300], cmd[512] = "";
		FILE *f;
		size_t n;

		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = fread(cmd, 1, sizeof(cmd) - 1, f);
		fclose(f);
		for (size_t i = 0; i < n; i++)
			if (!cmd[i])
				cmd[i] = ' ';
		found = strstr(cmd, marker) && !strstr(cmd, "sh -c");
	}
	if (d)
		closedir(d);
	return found;
}

static void sandbox_timeout_kills_everything(void **state)
{
	struct capture c;
	int st = -1;

	assert_int_equal(run_sh("sleep 1234.5 & setsid sleep 1234.5 & sleep 1234.5", false, NULL,
				300, &c, &st),
			 AICERT_ERR_TIMEOUT);
	assert_int_equal(st, 128 + 9);
	usleep(100000);
	assert_false(process_alive("sleep 1234.5"));
}

static void sandbox_hides_the_agent_socket(void **state)
{
	char dir[] = "/tmp/aicert-sandbox-XXXXXX", sock[128], script[512];
	const char *hide[] = {dir, NULL};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct capture c;
	int fd, st = -1;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0); /* visible to the sandbox's user unless hidden */
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	strcpy(sun.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 1), 0);
	snprintf(script, sizeof(script), "test -e %s && echo VISIBLE; ls -A %s | wc -l", sock, dir);
	assert_int_equal(run_sh(script, true, NULL, 0, &c, &st), 0);
	assert_non_null(strstr(c.out, "VISIBLE")); /* without hiding, it is there */
	assert_int_equal(run_sh(script, true, hide, 0, &c, &st), 0);
	assert_null(strstr(c.out, "VISIBLE"));
	assert_non_null(strstr(c.out, "0\n"));
	/* The command cannot undo the hiding: it holds no capability. */
	snprintf(script, sizeof(script),
		 "umount -l %s 2>/dev/null || echo REFUSED; test -e %s && echo VISIBLE", dir, sock);
	assert_int_equal(run_sh(script, true, hide, 0, &c, &st), 0);
	assert_non_null(strstr(c.out, "REFUSED"));
	assert_null(strstr(c.out, "VISIBLE"));
	close(fd);
	unlink(sock);
	rmdir(dir);
}

static void sandbox_network_none_reaches_nothing(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	char script[256];
	struct capture c;
	int fd, st = -1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(script, sizeof(script),
		 "if command -v bash >/dev/null; then bash -c 'echo > /dev/tcp/127.0.0.1/%u' "
		 "&& echo CONNECTED; else echo NOBASH; fi",
		 ntohs(sin.sin_port));
	assert_int_equal(run_sh(script, true, NULL, 0, &c, &st), 0);
	if (strstr(c.out, "NOBASH"))
		skip();
	assert_non_null(strstr(c.out, "CONNECTED"));
	assert_int_equal(run_sh(script, false, NULL, 0, &c, &st), 0);
	assert_null(strstr(c.out, "CONNECTED"));
	close(fd);
}

static void sandbox_gives_no_privileges_and_only_its_env(void **state)
{
	struct capture c;
	int st = -1;

	assert_int_equal(run_sh("grep -E 'NoNewPrivs|CapEff|Uid' /proc/self/status; env | sort",
				false, NULL, 0, &c, &st),
			 0);
	assert_non_null(strstr(c.out, "NoNewPrivs:\t1"));
	/* Not root, no capability at all, whoever started it. */
	assert_non_null(strstr(c.out, "CapEff:\t0000000000000000"));
	assert_null(strstr(c.out, "Uid:\t0\t"));
	assert_non_null(strstr(c.out, "ONLY=this"));
	assert_null(strstr(c.out, "HOME="));
	/* Its own PID namespace: the shell is init. */
	assert_int_equal(run_sh("echo pid=$$", false, NULL, 0, &c, &st), 0);
	assert_non_null(strstr(c.out, "pid=1\n"));
}

/* A descriptor the starter left open without O_CLOEXEC does not reach the
 * command. */
static void sandbox_passes_only_stdio(void **state)
{
	struct capture c;
	int fd = open("/dev/null", O_RDONLY), st = -1;

	(void)state;
	/* Far above what the shell opens for itself. */
	assert_int_equal(dup2(fd, 57), 57);
	close(fd);
	assert_int_equal(run_sh("for f in /proc/self/fd/*; do echo \"fd ${f##*/}\"; done", false,
				NULL, 0, &c, &st),
			 0);
	close(57);
	assert_non_null(strstr(c.out, "fd 2\n"));
	if (strstr(c.out, "fd 57\n"))
		fail_msg("an inherited descriptor reached the command:\n%s", c.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sandbox_streams_output_and_status),
		cmocka_unit_test(sandbox_reports_setup_failures),
		cmocka_unit_test(sandbox_timeout_kills_everything),
		cmocka_unit_test(sandbox_hides_the_agent_socket),
		cmocka_unit_test(sandbox_network_none_reaches_nothing),
		cmocka_unit_test(sandbox_gives_no_privileges_and_only_its_env),
		cmocka_unit_test(sandbox_passes_only_stdio),
	};

	return cmocka_run_group_tests_name("sandbox", tests, NULL, NULL);
}
