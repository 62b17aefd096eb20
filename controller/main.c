/* aicert: the controller's command line. */
#include <stdlib.h>

#include "cli.h"
#include "rpc.h"

int main(int argc, char **argv)
{
	/* tss2-mu and ESAPI print to stderr on every malformed input; our
	 * errors carry the detail instead. */
	setenv("TSS2_LOG", "all+NONE", 0);
	rpc_tune_malloc();
	return cli_main(argc, argv);
}
