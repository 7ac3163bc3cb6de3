/* cli_util.h - strict argument parsing and small helpers shared by the subcommands. */
#ifndef UH_CLI_UTIL_H
#define UH_CLI_UTIL_H

#include <stdint.h>

#include "unhosted.h"

/* Whole-string parses; return 0 on success, -1 if s is not a number or outside [lo, hi]. */
int cli_parse_long(const char *s, long lo, long hi, long *out);
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_float(const char *s, double lo, double hi, float *out);

/* Prints "unhosted <cmd>: <message>\n" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Monotonic seconds (clock_mono_s; kept for the generation loop and cmd_run). */

/* The option's value: argv[*i + 1], advancing *i; NULL (with an error printed) if missing. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);

#define CLI_MAX_PROMPT   (64u << 20) /* bytes of a prompt file */
#define CLI_MAX_TEMPLATE (1u << 20)  /* bytes of a chat template file */

/* Reads a whole file of at most max bytes into a malloc'd NUL-terminated buffer; NULL if it
 * cannot be read or is larger. */
char *cli_read_file(const char *path, size_t max, size_t *len);

/* The sampling and context options shared by run, chat and bench:
 *   --temp --seed --top-k --top-p --min-p --repeat-penalty --repeat-last-n
 *   --frequency-penalty --presence-penalty -c/--ctx --kv f32|f16 -t/--threads --exact
 * If argv[*i] is one of them, parses it (advancing *i past its value) and returns 1; returns 0
 * if it is not one of them, -1 (error printed) for a bad or missing value. */
int cli_gen_option(const char *cmd, int argc, char **argv, int *i, uh_sampler_params *sp,
                   uh_ctx_params *cp);

/* Help text lines for those options. */
extern const char cli_gen_options_help[];

#endif
