/*  sbx_log - see log.h */
#include "runtime/core/log.h"

#include <czmq.h>
#include <stdarg.h>

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
    switch (level) {
        case SBX_LOG_ERROR:   zsys_error ("[%s] %s", who, text); break;
        case SBX_LOG_WARNING: zsys_warning ("[%s] %s", who, text); break;
        case SBX_LOG_INFO:    zsys_info ("[%s] %s", who, text); break;
        case SBX_LOG_DEBUG:   zsys_debug ("[%s] %s", who, text); break;
    }
}
