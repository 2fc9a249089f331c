/*  sbx_log - one small logging module, filtered before formatting. Each
    line goes to stderr as one write, like zsys_* lines but with the full
    date and milliseconds:

        I: 2026-12-05 14:03:27.512 [default/0:1] ready -> acquired

    a level letter (E, W, I, D), the local time, the actor's id. */
#ifndef SBX_LOG_H
#define SBX_LOG_H

typedef enum {
    SBX_LOG_ERROR, SBX_LOG_WARNING, SBX_LOG_INFO, SBX_LOG_DEBUG
} sbx_log_level_t;

//  Sets the most verbose level printed (default: SBX_LOG_INFO). Call
//  before starting actors.
void sbx_log_set_level (sbx_log_level_t level);
sbx_log_level_t sbx_log_level (void);

void sbx_log (sbx_log_level_t level, const char *who, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

#define sbx_log_error(who, ...)   sbx_log (SBX_LOG_ERROR, who, __VA_ARGS__)
#define sbx_log_warning(who, ...) sbx_log (SBX_LOG_WARNING, who, __VA_ARGS__)
#define sbx_log_info(who, ...)    sbx_log (SBX_LOG_INFO, who, __VA_ARGS__)
#define sbx_log_debug(who, ...)   sbx_log (SBX_LOG_DEBUG, who, __VA_ARGS__)
//  A broken invariant: always logged, whatever the build, as an error line
//  whose text starts with "bug:" (tests fail on any such line). The caller
//  then keeps its state consistent and goes on. The format is a literal.
#define sbx_log_bug(who, ...)     sbx_log (SBX_LOG_ERROR, who, "bug: " __VA_ARGS__)

#endif
