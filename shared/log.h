/* Logging for programs (the agent's loop, the CLI). Library code returns
 * error codes instead and logs at debug level at most.
 *
 * In daemon style every line starts with a syslog priority prefix ("<3>") so
 * that journald files it at the right level; in CLI style errors read
 * "aicert: error: ...". Lines go to stderr.
 */
#ifndef AICERT_LOG_H
#define AICERT_LOG_H

#include <syslog.h>

enum log_style {
	LOG_STYLE_CLI = 0,
	LOG_STYLE_DAEMON = 1,
};

/* ident names the program in CLI style; max_prio drops lines below it
 * (LOG_INFO by default, LOG_DEBUG with --verbose). */
void log_setup(const char *ident, enum log_style style, int max_prio);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
