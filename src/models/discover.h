/* discover.h - read-only discovery of GGUF files that other tools have downloaded, so they can
 * be listed and run without a second copy. Nothing under their directories is ever written.
 *
 * Ollama: $OLLAMA_MODELS (else ~/.ollama/models), and /usr/share/ollama/.ollama/models (the
 *   Linux service's). A manifest manifests/<host>/<namespace>/<model>/<tag> is JSON whose
 *   "layers" hold one of mediaType "application/vnd.ollama.image.model" with "digest"
 *   "sha256:<hex>" and "size"; the GGUF is blobs/sha256-<hex>. Only files whose size matches
 *   the manifest are used (Ollama writes the manifest after the blob is verified; a partial
 *   download has no manifest). Names: "ollama/<model>:<tag>" for the default library
 *   (registry.ollama.ai/library), "ollama/<namespace>/<model>:<tag>" for other namespaces of
 *   registry.ollama.ai, "ollama/<host>/<namespace>/<model>:<tag>" otherwise.
 * LM Studio: ~/.lmstudio/models and ~/.cache/lm-studio/models, laid out <publisher>/<repo>/
 *   <file>.gguf. Name: "lmstudio/<publisher>/<repo>:<file without .gguf>"; the tag may be left
 *   out when the repo folder holds one model file. Vision projectors (mmproj*) and split parts
 *   (*-0000N-of-0000M.gguf) are not models on their own and are skipped.
 * Every file is opened with the GGUF reader before it is listed or returned. */
#ifndef UH_MODELS_DISCOVER_H
#define UH_MODELS_DISCOVER_H

#include "models/store.h"
#include "unhosted.h"

/* All discovered models, sorted by name then tag; *out malloc'd (caller frees). entry.source
 * is "ollama" or "lmstudio"; sha256 is the Ollama digest (not re-hashed) or "". */
int discover_list(store_entry **out, int *n, uh_err *err);

/* One model by "ollama/...", "lmstudio/..." or a bare Ollama library "name[:tag]".
 * UH_ENOTFOUND if none matches; UH_EINVAL if a tagless lmstudio name is ambiguous. */
int discover_find(const char *spec, store_entry *out, uh_err *err);

#endif
