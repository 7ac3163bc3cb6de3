/* info.c - GGUF facts for the model list (architecture, quantization, parameters, context,
 * licence) and file hashing. */
#include "models/info.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/sha256.h"
#include "gguf/gguf.h"
#include "engine/model.h"
#include "kernels/qtypes.h"

const char *models_ftype_name(unsigned ftype)
{
    /* GGUF general.file_type (llama.cpp's file-type numbering); gaps are retired values */
    static const char *const names[] = {
        [0] = "F32",      [1] = "F16",      [2] = "Q4_0",    [3] = "Q4_1",    [7] = "Q8_0",
        [8] = "Q5_0",     [9] = "Q5_1",     [10] = "Q2_K",   [11] = "Q3_K_S", [12] = "Q3_K_M",
        [13] = "Q3_K_L",  [14] = "Q4_K_S",  [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M",
        [18] = "Q6_K",    [19] = "IQ2_XXS", [20] = "IQ2_XS", [21] = "Q2_K_S", [22] = "IQ3_XS",
        [23] = "IQ3_XXS", [24] = "IQ1_S",   [25] = "IQ4_NL", [26] = "IQ3_S",  [27] = "IQ3_M",
        [28] = "IQ2_S",   [29] = "IQ2_M",   [30] = "IQ4_XS", [31] = "IQ1_M",  [32] = "BF16",
    };
    return ftype < sizeof names / sizeof names[0] ? names[ftype] : NULL;
}

int models_arch_supported(const char *arch)
{
    const arch_desc *a = arch ? arch_find(arch, strlen(arch)) : NULL;
    return a && arch_check(a, NULL) == 0; /* described, and every op it needs exists */
}

static void copy_gstr(char *dst, size_t cap, const gguf_file *f, const char *key)
{
    gguf_str s;
    if (gguf_get_str(f, key, &s, NULL) != 0) return;
    size_t n = s.len < cap - 1 ? (size_t)s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = 0;
    for (size_t i = 0; i < n; i++) /* shown in one-line tables */
        if ((unsigned char)dst[i] < 0x20) dst[i] = ' ';
}

int models_file_info(const char *path, store_entry *e, uh_err *err)
{
    gguf_file *f = NULL;
    int rc = gguf_open(path, &f, err);
    if (rc != 0) return rc;
    e->arch[0] = e->license[0] = e->quant[0] = 0;
    copy_gstr(e->arch, sizeof e->arch, f, "general.architecture");
    copy_gstr(e->license, sizeof e->license, f, "general.license");
    char key[96];
    uint32_t v32 = 0;
    snprintf(key, sizeof key, "%s.context_length", e->arch);
    e->n_ctx_train = e->arch[0] && gguf_get_u32(f, key, &v32, NULL) == 0 ? v32 : 0;
    uint64_t bytes_by_type[QT_COUNT] = {0};
    e->n_params = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) n *= (uint64_t)t->ne[d];
        e->n_params += n;
        if (t->n_dims >= 2 && t->type < QT_COUNT) bytes_by_type[t->type] += t->size;
    }
    const char *q =
        gguf_get_u32(f, "general.file_type", &v32, NULL) == 0 ? models_ftype_name(v32) : NULL;
    if (!q) {
        int best = -1;
        for (int t = 0; t < QT_COUNT; t++)
            if (bytes_by_type[t] && (best < 0 || bytes_by_type[t] > bytes_by_type[best])) best = t;
        q = best >= 0 ? qtype_name(best) : "";
    }
    snprintf(e->quant, sizeof e->quant, "%s", q);
    e->size = gguf_file_size(f);
    gguf_close(f);
    return UH_OK;
}

int models_sha256_file(const char *path, char hex[65], uh_err *err)
{
    enum { CHUNK = 1 << 20 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_setf(err, UH_EIO, "open %s: %s", path, strerror(errno));
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        close(fd);
        return err_setf(err, UH_ENOMEM, "out of memory");
    }
    sha256_state st;
    sha256_init(&st);
    int rc = UH_OK;
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = err_setf(err, UH_EIO, "read %s: %s", path, strerror(errno));
            break;
        }
        if (r == 0) break;
        sha256_update(&st, buf, (size_t)r);
    }
    unsigned char digest[SHA256_BYTES];
    sha256_final(&st, digest);
    if (rc == 0) sha256_hex(digest, hex);
    free(buf);
    close(fd);
    return rc;
}
