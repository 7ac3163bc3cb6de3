/* file.c - atomic file writes and capped whole-file reads (file.h). */
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"

/* ---- atomic writes ---- */

int file_atomic_open(file_atomic *f, const char *path, unsigned mode, uh_err *err)
{
    f->fd = -1;
    f->tmp[0] = 0;
    const size_t n = strlen(path);
    if (n == 0 || n >= sizeof f->path)
        return err_setf(err, UH_EINVAL, "path too long or empty: %.64s", path);
    memcpy(f->path, path, n + 1);
    const char *slash = strrchr(path, '/');
    const int dir_len = slash ? (int)(slash - path) : 0;
    const char *base = slash ? slash + 1 : path;
    if (!*base) return err_setf(err, UH_EINVAL, "%s names a directory, not a file", path);
    snprintf(f->tmp, sizeof f->tmp, "%.*s%s.%s.XXXXXX", dir_len, path, slash ? "/" : "", base);
    f->fd = mkstemp(f->tmp);
    if (f->fd < 0) {
        int e = errno;
        f->tmp[0] = 0;
        return err_setf(err, UH_EIO, "cannot create a file beside %s: %s", path, strerror(e));
    }
    if (fchmod(f->fd, (mode_t)mode) != 0) {
        int e = errno;
        file_atomic_abort(f);
        return err_setf(err, UH_EIO, "cannot set the mode of a file beside %s: %s", path,
                        strerror(e));
    }
    return 0;
}

int file_atomic_write(file_atomic *f, const void *p, size_t n, uh_err *err)
{
    const char *s = p;
    if (f->fd < 0) return err_setf(err, UH_EINVAL, "%s: not open for writing", f->path);
    while (n > 0) {
        ssize_t w = write(f->fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return err_setf(err, UH_EIO, "cannot write %s: %s", f->path,
                            w < 0 ? strerror(errno) : "no progress");
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Makes a rename or link in the directory of path durable. */
static void sync_dir_of(const char *path)
{
    char dir[FILE_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

/* fsync, fstat (st may be NULL) and close the temporary file: 0 or UH_EIO. */
static int finish_temp(file_atomic *f, struct stat *st, uh_err *err)
{
    if (f->fd < 0) return err_setf(err, UH_EINVAL, "%s: not open for writing", f->path);
    int rc = 0;
    if (fsync(f->fd) != 0 || (st && fstat(f->fd, st) != 0))
        rc = err_setf(err, UH_EIO, "cannot write %s: %s", f->path, strerror(errno));
    if (close(f->fd) != 0 && !rc)
        rc = err_setf(err, UH_EIO, "cannot write %s: %s", f->path, strerror(errno));
    f->fd = -1;
    return rc;
}

int file_atomic_commit(file_atomic *f, struct stat *st, uh_err *err)
{
    int rc = finish_temp(f, st, err);
    if (!rc && rename(f->tmp, f->path) != 0)
        rc = err_setf(err, UH_EIO, "cannot replace %s: %s", f->path, strerror(errno));
    if (rc) {
        file_atomic_abort(f);
        return rc;
    }
    f->tmp[0] = 0;
    sync_dir_of(f->path);
    return 0;
}

int file_atomic_commit_new(file_atomic *f, uh_err *err)
{
    int rc = finish_temp(f, NULL, err);
    /* link, not rename: a target that appeared in the meantime stays */
    if (!rc && link(f->tmp, f->path) != 0) {
        int e = errno;
        rc = e == EEXIST ? err_setf(err, UH_ECONFLICT, "%s already exists", f->path)
                         : err_setf(err, UH_EIO, "cannot create %s: %s", f->path, strerror(e));
    }
    file_atomic_abort(f); /* the temporary name goes; a linked file stays under the target */
    if (!rc) sync_dir_of(f->path);
    return rc;
}

void file_atomic_abort(file_atomic *f)
{
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    if (f->tmp[0]) unlink(f->tmp);
    f->tmp[0] = 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode, uh_err *err)
{
    file_atomic f;
    int rc = file_atomic_open(&f, path, mode, err);
    if (rc) return rc;
    rc = file_atomic_write(&f, data, len, err);
    if (rc) {
        file_atomic_abort(&f);
        return rc;
    }
    return file_atomic_commit(&f, NULL, err);
}

/* ---- reads ---- */

/* Reads fd to its end into buf[0..cap); UH_EFORMAT/UH_ELIMIT (code) when more than cap bytes. */
static int read_all(int fd, const char *path, char *buf, size_t cap, size_t *len, int too_big,
                    uh_err *err)
{
    size_t n = 0;
    for (;;) {
        char probe;
        char *at = n < cap ? buf + n : &probe;
        size_t room = n < cap ? cap - n : 1;
        ssize_t r = read(fd, at, room);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return err_setf(err, UH_EIO, "cannot read %s: %s", path, strerror(errno));
        if (r == 0) break;
        if (n >= cap) return err_setf(err, too_big, "%s is larger than %zu bytes", path, cap);
        n += (size_t)r;
    }
    *len = n;
    return 0;
}

static int open_regular(const char *path, int flags, struct stat *st, uh_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0) {
        int e = errno;
        return err_setf(err, e == ENOENT ? UH_ENOTFOUND : UH_EIO, "cannot open %s: %s", path,
                        strerror(e));
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return err_setf(err, UH_EIO, "%s is not a regular file", path);
    }
    return fd;
}

int file_read(const char *path, size_t max, char **out, size_t *len, uh_err *err)
{
    struct stat st;
    size_t n = 0;
    *out = NULL;
    int fd = open_regular(path, 0, &st, err);
    if (fd < 0) return fd;
    if ((uint64_t)st.st_size > (uint64_t)max) {
        close(fd);
        return err_setf(err, UH_ELIMIT, "%s is larger than %zu bytes", path, max);
    }
    char *b = malloc((size_t)st.st_size + 1);
    int rc = b ? 0 : err_setf(err, UH_ENOMEM, "out of memory reading %s", path);
    /* the file may have grown since fstat: read what fits and refuse the rest */
    if (!rc) rc = read_all(fd, path, b, (size_t)st.st_size, &n, UH_ELIMIT, err);
    close(fd);
    if (rc) {
        free(b);
        return rc;
    }
    b[n] = 0;
    *out = b;
    if (len) *len = n;
    return 0;
}

int file_read_stream(FILE *f, const char *name, size_t max, char **out, size_t *len, uh_err *err)
{
    buf_t b;
    buf_init(&b, max);
    *out = NULL;
    int rc = 0;
    for (;;) {
        char chunk[16384];
        size_t n = fread(chunk, 1, sizeof chunk, f);
        if (n > 0 && (rc = buf_append(&b, chunk, n)) != 0) {
            rc = rc == UH_ELIMIT
                     ? err_setf(err, UH_ELIMIT, "%s is larger than %zu bytes", name, max)
                     : err_setf(err, UH_ENOMEM, "out of memory reading %s", name);
            break;
        }
        if (n < sizeof chunk) {
            if (ferror(f)) rc = err_setf(err, UH_EIO, "cannot read %s", name);
            break;
        }
    }
    if (!rc && !(*out = buf_steal(&b, len)))
        rc = err_setf(err, UH_ENOMEM, "out of memory reading %s", name);
    buf_fini(&b);
    return rc;
}

int file_read_private(const char *path, void *buf, size_t cap, size_t *len, struct stat *st_out,
                      uh_err *err)
{
    struct stat st;
    *len = 0;
    int fd = open_regular(path, O_NOFOLLOW, &st, err); /* a link could point anywhere */
    if (fd < 0) return fd;
    int rc = 0;
    if (st.st_mode & 077)
        rc =
            err_setf(err, UH_EINVAL, "%s is readable by other users (mode %03o); run: chmod 600 %s",
                     path, (unsigned)(st.st_mode & 0777), path);
    else
        rc = read_all(fd, path, buf, cap, len, UH_EFORMAT, err);
    if (rc == 0 && st_out) *st_out = st;
    close(fd);
    return rc;
}
