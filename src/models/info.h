/* info.h - what the store and the model list show about a GGUF file, read with the engine's
 * GGUF reader (so a file is fully validated before it is listed or imported), and SHA-256 of a
 * file. */
#ifndef UH_MODELS_INFO_H
#define UH_MODELS_INFO_H

#include <stddef.h>

#include "models/store.h"
#include "unhosted.h"

/* Opens path with the GGUF reader and fills e->arch, quant, n_params, n_ctx_train, license and
 * size (other fields untouched). quant is general.file_type's name (Q4_K_M, ...), else the type
 * holding most bytes among the 2-D tensors. UH_EFORMAT/UH_EIO/... from the reader, with its
 * message. */
int models_file_info(const char *path, store_entry *e, uh_err *err);

/* Name of a GGUF general.file_type value ("Q4_K_M"), or NULL if unknown. */
const char *models_ftype_name(unsigned ftype);

/* SHA-256 of a whole file, streamed (base/sha256.h), as 64 lowercase hex digits. */
int models_sha256_file(const char *path, char hex[65], uh_err *err);

/* 1 if the engine has a table entry for this GGUF general.architecture. */
int models_arch_supported(const char *arch);

#endif
