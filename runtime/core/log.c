/*  sbx_log - see log.h */
#include "runtime/core/log.h"

#include <czmq.h>
#include <stdarg.h>
#include <time.h>

//  Written once before any actor starts, read-only afterwards.
static sbx_log_level_t s_level = SBX_LOG_INFO;

void
sbx_log_set_level (sbx_log_level_t level)
{
    s_level = level;
}

sbx_log_level_t
sbx_log_level (void)
{
    return s_level;
}

void
sbx_log (sbx_log_level_t level, const char *who, const char *format, ...)
{
    if (level > s_level)
        return;
    char text [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    //  zsys_* would print the year in two digits (%y): the time is ours.
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm local;
    char stamp [32] = "";
    if (localtime_r (&now.tv_sec, &local))
        strftime (stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &local);
    static const char marks [] = {'E', 'W', 'I', 'D'};
    //  One call per line: lines of different threads never mix.
    fprintf (stderr, "%c: %s.%03d [%s] %s\n", marks [level], stamp, (int) (now.tv_nsec / 1000000), who, text);
}
