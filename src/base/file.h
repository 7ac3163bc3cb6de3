/* file.h - files written atomically (a crash or a full disk leaves the old file or the new one,
 * never half of one) and whole-file reads with a cap, optionally of private files.
 *
 * Atomic writes: the data goes to a fresh temporary file ".NAME.XXXXXX" beside the target (same
 * directory, so the rename cannot cross file systems), created with the final mode, fsynced,
 * renamed over the target, and the directory fsynced so the rename itself survives a crash. A
 * failure at any step removes the temporary file and leaves the target untouched.
 *
 * Private reads: the file must be a regular file, not a symbolic link, that no other user can
 * read or write (mode & 077 == 0); the error message says how to fix a wrong mode.
 *
 * Threading: none shared; each object has one owner. Paths are at most FILE_PATH_MAX bytes. */
#ifndef UH_BASE_FILE_H
#define UH_BASE_FILE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "unhosted_base.h"

#define FILE_PATH_MAX 4096

typedef struct {
    int fd;                       /* of the temporary file; -1 when closed */
    char path[FILE_PATH_MAX];     /* the target */
    char tmp[FILE_PATH_MAX + 32]; /* the temporary file; "" once renamed or removed */
} file_atomic;

/* Creates the temporary file for path with the given mode (e.g. 0600, 0644). */
int file_atomic_open(file_atomic *f, const char *path, unsigned mode, uh_err *err);
/* Appends n bytes (retrying short writes). UH_EIO names the file and the reason. */
int file_atomic_write(file_atomic *f, const void *p, size_t n, uh_err *err);
/* fsync, rename over the target, fsync the directory. st (may be NULL) receives the file's
 * status as it now is at the target (rename keeps inode, size and times). On failure the
 * temporary file is removed. Either way the object is finished. */
int file_atomic_commit(file_atomic *f, struct stat *st, uh_err *err);
/* Like file_atomic_commit, but never replaces an existing target (for a file that two processes
 * may create at once, where the first one must win): the temporary file is linked into place,
 * not renamed. UH_ECONFLICT when the target already exists. Either way the temporary file is
 * removed and the object is finished. */
int file_atomic_commit_new(file_atomic *f, uh_err *err);
/* Removes the temporary file; the target is untouched. Accepts a finished object. */
void file_atomic_abort(file_atomic *f);

/* The whole write in one call: path gets data[0..len) with the given mode. */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode, uh_err *err);

/* Reads the whole file into a malloc'd buffer (NUL-terminated; *len without the NUL; len may be
 * NULL). UH_ENOTFOUND when it does not exist, UH_ELIMIT when it is larger than max bytes, UH_EIO
 * for other failures. */
int file_read(const char *path, size_t max, char **out, size_t *len, uh_err *err);
/* Reads the stream f to its end (a pipe, a terminal or a file; for "-" or /dev/stdin) into a
 * malloc'd buffer like file_read; name is for messages. UH_ELIMIT when more than max bytes come,
 * UH_EIO on a read error, UH_ENOMEM. The stream stays open. */
int file_read_stream(FILE *f, const char *name, size_t max, char **out, size_t *len, uh_err *err);
/* Reads a private file (see above) into the caller's buffer buf[0..cap) (for secrets: the caller
 * chooses guarded memory and wipes it); *len the bytes read; st (may be NULL) the status of the
 * file that was read (taken from the open descriptor, so it matches the contents). UH_ENOTFOUND
 * when it does not exist, UH_EINVAL when other users may read it, UH_EIO for a symbolic link,
 * UH_EFORMAT when it is larger than cap, UH_EIO else. */
int file_read_private(const char *path, void *buf, size_t cap, size_t *len, struct stat *st,
                      uh_err *err);

#endif
