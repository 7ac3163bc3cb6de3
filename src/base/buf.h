/* buf.h - a growable byte buffer with an optional cap, and growth of typed arrays.
 *
 * A buf holds len bytes in data[0..len), always followed by a NUL once anything was appended
 * (so text built in it is a C string). It grows by doubling. A buffer filled from outside gets a
 * cap (max): an append that would pass it fails with UH_ELIMIT and leaves the contents as they
 * were, as does one that runs out of memory (UH_ENOMEM).
 *
 * Ownership: the buf owns data until buf_steal hands it to the caller (who frees it with free).
 * Threading: none; one owner at a time. */
#ifndef UH_BASE_BUF_H
#define UH_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *data; /* NULL until the first append */
    size_t len; /* bytes in use, the NUL not counted */
    size_t cap; /* bytes allocated */
    size_t max; /* most bytes it may hold; 0 = no cap */
} buf_t;

/* An empty buffer holding at most max bytes (0 = no cap). Allocates nothing. */
void buf_init(buf_t *b, size_t max);
/* Frees the contents; the buffer is empty again (same cap) and may be reused. */
void buf_fini(buf_t *b);
/* Empties the buffer, keeping its memory. */
void buf_reset(buf_t *b);
/* Makes room for extra more bytes (and the NUL): 0, UH_ENOMEM or UH_ELIMIT. */
int buf_reserve(buf_t *b, size_t extra);
/* Appends n bytes / a C string / one byte / formatted text: 0, UH_ENOMEM or UH_ELIMIT (then
 * nothing was appended). */
int buf_append(buf_t *b, const void *p, size_t n);
int buf_puts(buf_t *b, const char *s);
int buf_putc(buf_t *b, char c);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Hands the contents to the caller: a malloc'd, NUL-terminated string ("" when empty; NULL only
 * when that allocation fails), *len its length (len may be NULL). The buffer is empty after. */
char *buf_steal(buf_t *b, size_t *len);

/* Grows the array *p of elements of size elem, with room for *cap of them, so that it holds at
 * least need (doubling, at least 16). The contents are kept; on failure *p and *cap are
 * unchanged. 0 or UH_ENOMEM (also when need * elem overflows). */
int buf_grow_array(void **p, size_t *cap, size_t need, size_t elem);

#endif
