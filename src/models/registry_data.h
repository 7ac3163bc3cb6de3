/* registry_data.h - the registry file (models/registry.json) compiled in; see registry.h. */
#ifndef UH_MODELS_REGISTRY_DATA_H
#define UH_MODELS_REGISTRY_DATA_H

#include <stddef.h>

extern const unsigned char registry_json[]; /* registry_json_len bytes, then a NUL */
extern const size_t registry_json_len;

#endif
