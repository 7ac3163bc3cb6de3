/* test_base.c - the base helpers: growable buffer (caps, steal, printf, array growth), clocks,
 * atomic file writes (content, mode, no temporary left, failure leaves the old file) and capped /
 * private file reads. */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/file.h"
#include "check.h"

static void test_buf_appends_and_keeps_a_nul(void)
{
    buf_t b;
    buf_init(&b, 0);
    CHECK(b.data == NULL && b.len == 0);
    CHECK(buf_puts(&b, "hello") == 0);
    CHECK(buf_putc(&b, ' ') == 0);
    CHECK(buf_printf(&b, "%d-%s", 42, "x") == 0);
    CHECK(b.len == 10 && strcmp(b.data, "hello 42-x") == 0);
    for (int i = 0; i < 1000; i++) CHECK(buf_append(&b, "abc", 3) == 0);
    CHECK(b.len == 3010 && b.data[3010] == 0 && memcmp(b.data + 3007, "abc", 3) == 0);
    buf_reset(&b);
    CHECK(b.len == 0 && b.data && b.data[0] == 0);
    size_t n = 99;
    char *s = buf_steal(&b, &n);
    CHECK(s && s[0] == 0 && n == 0);
    free(s);
    CHECK(b.data == NULL);
    buf_fini(&b);
}

static int vprintf_into(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vprintf_into(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* buf_vprintf serves printf-like wrappers: same output as buf_printf, same cap. */
static void test_buf_vprintf(void)
{
    buf_t b;
    buf_init(&b, 12);
    CHECK(vprintf_into(&b, "%s=%d;", "a", 1) == 0 && vprintf_into(&b, "%s=%d;", "bb", 22) == 0);
    CHECK(b.len == 10 && strcmp(b.data, "a=1;bb=22;") == 0);
    CHECK(vprintf_into(&b, "%s", "xyz") == UH_ELIMIT && b.len == 10);
    buf_fini(&b);
}

static void test_buf_cap_refuses_without_change(void)
{
    buf_t b;
    buf_init(&b, 8);
    CHECK(buf_puts(&b, "12345678") == 0);
    CHECK(buf_putc(&b, '9') == UH_ELIMIT);
    CHECK(buf_printf(&b, "%s", "x") == UH_ELIMIT);
    CHECK(b.len == 8 && strcmp(b.data, "12345678") == 0);
    buf_reset(&b);
    CHECK(buf_append(&b, "123456789", 9) == UH_ELIMIT && b.len == 0);
    CHECK(buf_append(&b, "1234567", 7) == 0 && buf_append(&b, "89", 2) == UH_ELIMIT);
    CHECK(b.len == 7);
    size_t n;
    char *s = buf_steal(&b, &n);
    CHECK(s && n == 7 && strcmp(s, "1234567") == 0);
    free(s);
    buf_fini(&b);
}

static void test_grow_array(void)
{
    int *a = NULL;
    size_t cap = 0;
    CHECK(buf_grow_array((void **)&a, &cap, 1, sizeof *a) == 0 && cap >= 16);
    for (int i = 0; i < 16; i++) a[i] = i;
    CHECK(buf_grow_array((void **)&a, &cap, 1000, sizeof *a) == 0 && cap >= 1000);
    CHECK(a[15] == 15);
    int *before = a;
    size_t cap_before = cap;
    CHECK(buf_grow_array((void **)&a, &cap, SIZE_MAX / 2, sizeof *a) == UH_ENOMEM);
    CHECK(a == before && cap == cap_before);
    free(a);
}

static void test_clocks(void)
{
    double t0 = clock_mono_s();
    int64_t m0 = clock_mono_ms();
    usleep(20000);
    CHECK(clock_mono_s() - t0 >= 0.019);
    CHECK(clock_mono_ms() - m0 >= 19);
    CHECK(clock_wall_s() > 1700000000);
    CHECK(clock_wall() - (double)clock_wall_s() < 1.5);
    struct timespec a = clock_mono_after(1500);
    CHECK(a.tv_nsec >= 0 && a.tv_nsec < 1000000000L);
}

/* Number of entries in dir besides . and .. */
static int n_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static void test_atomic_write(void)
{
    char dir[] = "/tmp/uh-base-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], bad[300];
    snprintf(path, sizeof path, "%s/f.json", dir);
    uh_err err = {0};
    CHECK(file_write_atomic(path, "one", 3, 0600, &err) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 3);
    CHECK(file_write_atomic(path, "second", 6, 0644, &err) == 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
    char *s = NULL;
    size_t n = 0;
    CHECK(file_read(path, 100, &s, &n, &err) == 0 && n == 6 && strcmp(s, "second") == 0);
    free(s);
    CHECK(n_entries(dir) == 1); /* no temporary file left */
    /* an aborted write leaves the old contents and no temporary file */
    file_atomic f;
    CHECK(file_atomic_open(&f, path, 0600, &err) == 0);
    CHECK(file_atomic_write(&f, "partial", 7, &err) == 0);
    CHECK(n_entries(dir) == 2);
    file_atomic_abort(&f);
    CHECK(n_entries(dir) == 1);
    CHECK(file_read(path, 100, &s, &n, &err) == 0 && strcmp(s, "second") == 0);
    free(s);
    /* committed with a status */
    CHECK(file_atomic_open(&f, path, 0600, &err) == 0);
    CHECK(file_atomic_write(&f, "third!!", 7, &err) == 0);
    CHECK(file_atomic_commit(&f, &st, &err) == 0 && st.st_size == 7);
    struct stat st2;
    CHECK(stat(path, &st2) == 0 && st2.st_ino == st.st_ino);
    /* a directory that does not exist: an error naming the path */
    snprintf(bad, sizeof bad, "%s/missing/f", dir);
    CHECK(file_write_atomic(bad, "x", 1, 0600, &err) == UH_EIO && strstr(err.msg, bad));
    CHECK(file_write_atomic("", "x", 1, 0600, &err) == UH_EINVAL);
    unlink(path);
    rmdir(dir);
}

/* commit_new creates a file that is not there but never replaces one that is (the first of two
 * concurrent creators wins), and leaves no temporary file either way. */
static void test_atomic_create_never_replaces(void)
{
    char dir[] = "/tmp/uh-base-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/key", dir);
    uh_err err = {0};
    file_atomic a, b;
    CHECK(file_atomic_open(&a, path, 0600, &err) == 0);
    CHECK(file_atomic_open(&b, path, 0600, &err) == 0);
    CHECK(file_atomic_write(&a, "first", 5, &err) == 0);
    CHECK(file_atomic_write(&b, "second", 6, &err) == 0);
    CHECK(file_atomic_commit_new(&a, &err) == 0);
    CHECK(n_entries(dir) == 2); /* the target and b's temporary file */
    CHECK(file_atomic_commit_new(&b, &err) == UH_ECONFLICT && strstr(err.msg, path));
    CHECK(n_entries(dir) == 1);
    char *s = NULL;
    size_t n = 0;
    struct stat st;
    CHECK(file_read(path, 100, &s, &n, &err) == 0 && strcmp(s, "first") == 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_nlink == 1);
    free(s);
    unlink(path);
    rmdir(dir);
}

static void test_reads_capped_and_private(void)
{
    char dir[] = "/tmp/uh-base-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], missing[300];
    snprintf(path, sizeof path, "%s/secret", dir);
    snprintf(missing, sizeof missing, "%s/none", dir);
    uh_err err = {0};
    CHECK(file_write_atomic(path, "0123456789", 10, 0600, &err) == 0);
    char *s = NULL;
    size_t n = 0;
    CHECK(file_read(path, 9, &s, &n, &err) == UH_ELIMIT && s == NULL);
    CHECK(file_read(path, 10, &s, &n, &err) == 0 && n == 10);
    free(s);
    CHECK(file_read(missing, 10, &s, &n, &err) == UH_ENOTFOUND);
    CHECK(file_read(dir, 10, &s, &n, &err) == UH_EIO);
    char b[16];
    CHECK(file_read_private(path, b, sizeof b, &n, NULL, &err) == 0 && n == 10 &&
          memcmp(b, "0123456789", 10) == 0);
    struct stat st;
    CHECK(file_read_private(path, b, 10, &n, &st, &err) == 0 && n == 10 && st.st_size == 10 &&
          S_ISREG(st.st_mode));
    CHECK(file_read_private(path, b, 9, &n, NULL, &err) == UH_EFORMAT);
    CHECK(chmod(path, 0640) == 0);
    CHECK(file_read_private(path, b, sizeof b, &n, NULL, &err) == UH_EINVAL &&
          strstr(err.msg, "chmod 600"));
    CHECK(chmod(path, 0602) == 0);
    CHECK(file_read_private(path, b, sizeof b, &n, NULL, &err) == UH_EINVAL);
    CHECK(file_read_private(missing, b, sizeof b, &n, NULL, &err) == UH_ENOTFOUND);
    /* a symbolic link to a private file is refused: it could point anywhere */
    CHECK(chmod(path, 0600) == 0);
    char link_path[300];
    snprintf(link_path, sizeof link_path, "%s/link", dir);
    CHECK(symlink(path, link_path) == 0);
    CHECK(file_read_private(link_path, b, sizeof b, &n, NULL, &err) == UH_EIO);
    CHECK(file_read(link_path, 100, &s, &n, &err) == 0 && n == 10); /* plain reads follow it */
    free(s);
    unlink(link_path);
    /* a stream (here a pipe) is read to its end, with the same cap */
    int fds[2];
    CHECK(pipe(fds) == 0);
    CHECK(write(fds[1], "streamed", 8) == 8);
    close(fds[1]);
    FILE *f = fdopen(fds[0], "rb");
    CHECK(f && file_read_stream(f, "pipe", 8, &s, &n, &err) == 0 && n == 8 &&
          strcmp(s, "streamed") == 0);
    free(s);
    fclose(f);
    CHECK(pipe(fds) == 0);
    CHECK(write(fds[1], "streamed", 8) == 8);
    close(fds[1]);
    f = fdopen(fds[0], "rb");
    CHECK(f && file_read_stream(f, "pipe", 7, &s, &n, &err) == UH_ELIMIT && s == NULL &&
          strstr(err.msg, "pipe"));
    fclose(f);
    f = fopen(missing, "w+b"); /* empty: "" */
    CHECK(f && file_read_stream(f, missing, 7, &s, &n, &err) == 0 && n == 0 && s[0] == 0);
    free(s);
    fclose(f);
    unlink(missing);
    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    T_SELECT(argc, argv);
    T_RUN(test_buf_appends_and_keeps_a_nul);
    T_RUN(test_buf_vprintf);
    T_RUN(test_buf_cap_refuses_without_change);
    T_RUN(test_grow_array);
    T_RUN(test_clocks);
    T_RUN(test_atomic_write);
    T_RUN(test_atomic_create_never_replaces);
    T_RUN(test_reads_capped_and_private);
    return t_exit();
}
