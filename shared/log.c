#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static const char *log_ident = "aicert";
static enum log_style log_style_cur = LOG_STYLE_CLI;
static int log_max_prio = LOG_INFO;

void log_setup(const char *ident, enum log_style style, int max_prio)
{
	log_ident = ident;
	log_style_cur = style;
	log_max_prio = max_prio;
}

static const char *log_label(int prio)
{
	if (prio <= LOG_ERR)
		return "error: ";
	if (prio == LOG_WARNING)
		return "warning: ";
	if (prio == LOG_DEBUG)
		return "debug: ";
	return "";
}

void log_msg(int prio, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (prio > log_max_prio)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line keeps lines whole when threads log at once. */
	if (log_style_cur == LOG_STYLE_DAEMON)
		fprintf(stderr, "<%d>%s\n", prio, line);
	else
		fprintf(stderr, "%s: %s%s\n", log_ident, log_label(prio), line);
}
