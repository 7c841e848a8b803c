/* Names and descriptions of the drop reasons in drop.h. */
#include "datapath/drop.h"

#include <stddef.h>

static const char *const drop_names[DP_DROP_N_REASONS] = {
    [DP_DROP_NONE] = "none",
#define DP_DROP_NAME(NAME, DESC) [DP_DROP_##NAME] = #NAME,
    DP_DROP_REASONS(DP_DROP_NAME)
#undef DP_DROP_NAME
};

static const char *const drop_descs[DP_DROP_N_REASONS] = {
    [DP_DROP_NONE] = "not dropped",
#define DP_DROP_DESC(NAME, DESC) [DP_DROP_##NAME] = DESC,
    DP_DROP_REASONS(DP_DROP_DESC)
#undef DP_DROP_DESC
};

const char *
dp_drop_name(enum dp_drop d)
{
    return (unsigned)d < DP_DROP_N_REASONS ? drop_names[d] : "unknown";
}

const char *
dp_drop_description(enum dp_drop d)
{
    return (unsigned)d < DP_DROP_N_REASONS ? drop_descs[d] : "unknown";
}
