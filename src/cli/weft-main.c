/* weft: the Weft command-line client (see cli.h). */
#include <curl/curl.h>

#include "cli/cli.h"

int
main(int argc, char *argv[])
{
    int ret;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    ret = cli_main(argc, argv);
    curl_global_cleanup();
    return ret;
}
