/* cli_util.h - strict argument parsing and small helpers shared by the subcommands. */
#ifndef UH_CLI_UTIL_H
#define UH_CLI_UTIL_H

#include <stdint.h>

/* Whole-string parses; return 0 on success, -1 if s is not a number or outside [lo, hi]. */
int cli_parse_long(const char *s, long lo, long hi, long *out);
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_float(const char *s, double lo, double hi, float *out);

/* Prints "unhosted <cmd>: <message>\n" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Monotonic seconds. */
double cli_now(void);

/* The option's value: argv[*i + 1], advancing *i; NULL (with an error printed) if missing. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);

#endif
