/* check.h - the unit-test protocol shared by every tests/test_*.c.
 *
 * A test binary runs its cases with T_RUN(fn); each case prints "PASS name" or "FAIL name" (with
 * the failed checks above it). tests/run.sh counts those lines over all binaries. Checks do not
 * stop the case, so one run shows every broken expectation.
 *
 * main(argc, argv) starts with T_SELECT(argc, argv): `build/tests/test_x some_case` runs only the
 * case named some_case (the setup in main still runs), no argument runs them all. t_exit() fails
 * with a message when the name matched no case, so a misspelt name never passes silently. */
#ifndef UH_TESTS_CHECK_H
#define UH_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_case_failed;
static int t_n_failed;
static const char *t_only; /* the one case to run (argv[1]), NULL for all */
static int t_n_run;        /* cases run */

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                      \
            t_case_failed = 1;                                                                     \
        }                                                                                          \
    } while (0)

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("  %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                      \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            t_case_failed = 1;                                                                     \
        }                                                                                          \
    } while (0)

/* Takes the case to run from the command line: none (every case) or one name. More arguments
 * are a usage error: exits with status 2. */
static inline void t_select(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: %s [CASE]  (runs every case, or only the one named CASE)\n",
                argv[0]);
        exit(2);
    }
    t_only = argc == 2 ? argv[1] : NULL;
}

#define T_SELECT(argc, argv) t_select(argc, argv)

/* Runs one case and prints its PASS/FAIL line; skips it when T_SELECT named another case. */
static inline void t_run(const char *name, void (*fn)(void))
{
    if (t_only && strcmp(name, t_only) != 0) return;
    t_n_run++;
    t_case_failed = 0;
    fn();
    printf("%s %s\n", t_case_failed ? "FAIL" : "PASS", name);
    fflush(stdout);
    if (t_case_failed) t_n_failed++;
}

#define T_RUN(fn) t_run(#fn, fn)

/* Exit status of a test binary: non-zero if any case failed, or if the case named on the command
 * line was not among those run (then it says so on stderr). */
static inline int t_exit(void)
{
    if (t_only && t_n_run == 0) {
        fprintf(stderr, "no case named '%s' here (run without an argument to see every case)\n",
                t_only);
        return 1;
    }
    return t_n_failed ? 1 : 0;
}

/* Directory of the shared fixtures: $UNHOSTED_TESTDATA, else ../shared/testdata from the repo. */
static inline const char *t_testdata(void)
{
    const char *d = getenv("UNHOSTED_TESTDATA");
    return d && *d ? d : "../shared/testdata";
}

/* Reads a whole file; returns a malloc'd buffer (NUL-terminated) or NULL. */
static inline char *t_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        if (len_out) *len_out = (size_t)n;
    }
    return buf;
}

#endif
