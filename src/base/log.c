/* log.c - key=value line logger (see log.h). */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_level = -1;

static const char *level_names[] = {"error", "warn", "info", "debug"};

static int current_level(void)
{
    if (g_level < 0) {
        g_level = LOG_WARN;
        const char *env = getenv("UNHOSTED_LOG");
        for (int i = 0; env && i < 4; i++)
            if (strcmp(env, level_names[i]) == 0) g_level = i;
    }
    return g_level;
}

int log_enabled(enum log_level lvl) { return (int)lvl <= current_level(); }

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
{
    if (!log_enabled(lvl)) return;
    char line[1024];
    int n = snprintf(line, sizeof line, "level=%s event=%s ", level_names[lvl], event);
    if (n < 0) return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0) return;
    size_t len = strlen(line);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
