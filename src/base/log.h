/* log.h - one line per event, key=value, to stderr.
 *
 * Levels: error, warn, info, debug. The threshold comes from UNHOSTED_LOG (error|warn|info|debug),
 * default warn. Prompts and completions are only ever logged at debug level. */
#ifndef UH_BASE_LOG_H
#define UH_BASE_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

int log_enabled(enum log_level lvl);
/* Writes "level=<lvl> event=<event> <fmt...>\n" in one write call. */
void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(ev, ...) log_msg(LOG_ERROR, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_msg(LOG_WARN, ev, __VA_ARGS__)
#define log_info(ev, ...)  log_msg(LOG_INFO, ev, __VA_ARGS__)
#define log_debug(ev, ...) log_msg(LOG_DEBUG, ev, __VA_ARGS__)

#endif
