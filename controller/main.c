/* aicert: the controller's command line. */
#include <stdlib.h>

#include "cli.h"

int main(int argc, char **argv)
{
	/* tss2-mu and ESAPI print to stderr on every malformed input; our
	 * errors carry the detail instead. */
	setenv("TSS2_LOG", "all+NONE", 0);
	return cli_main(argc, argv);
}
