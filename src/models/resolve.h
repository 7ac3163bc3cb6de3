/* resolve.h - what the user typed where a model is expected (run, chat, bench, serve...) to a
 * GGUF file: a path to an existing file; else a name in the local store ("name[:tag]"); else a
 * model found read-only in other tools' stores (Ollama, LM Studio). A registry name that has not
 * been pulled yet gives UH_ENOTFOUND with "run 'unhosted pull NAME' first"; one whose
 * architecture the engine cannot run gives UH_EUNSUPPORTED saying so.
 *
 * Order: path > store > discovery > registry hint. A bare "name[:tag]" that is not in the store
 * also matches an Ollama library model of that name ("llama3.2:1b" finds Ollama's llama3.2:1b);
 * "ollama/..." and "lmstudio/..." name discovered models explicitly (discover.h). */
#ifndef UH_MODELS_RESOLVE_H
#define UH_MODELS_RESOLVE_H

#include <stddef.h>

#include "models/store.h"
#include "unhosted.h"

int models_resolve(const char *spec, char *path, size_t cap, uh_err *err);

enum models_origin { MODELS_FROM_PATH = 0, MODELS_FROM_STORE = 1, MODELS_FROM_DISCOVERY = 2 };

/* The same lookup, returning what is known about the model: for a store or discovered model the
 * whole entry; for a path only e->path (and e->source "path"). *origin says which. Registry
 * names that are not present: UH_ENOTFOUND ("run 'unhosted pull NAME' first"), or
 * UH_EUNSUPPORTED for an architecture the engine cannot run. */
int models_resolve_entry(const char *spec, store_entry *e, int *origin, uh_err *err);

#endif
