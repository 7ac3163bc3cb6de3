/* paths.h - where unhosted keeps its state.
 *
 * One root for everything when the user asks for it (--home DIR or $UNHOSTED_HOME), so tests and
 * several nodes can run side by side: DIR/config, DIR/data, DIR/cache. Otherwise the XDG base
 * directories: $XDG_CONFIG_HOME/unhosted (~/.config/unhosted), $XDG_DATA_HOME/unhosted
 * (~/.local/share/unhosted), $XDG_CACHE_HOME/unhosted (~/.cache/unhosted). */
#ifndef UH_BASE_PATHS_H
#define UH_BASE_PATHS_H

#include <stddef.h>

enum paths_kind { PATHS_CONFIG = 0, PATHS_DATA = 1, PATHS_CACHE = 2 };

/* Overrides the home for this process (takes precedence over $UNHOSTED_HOME). The directory is
 * created (mode 0700) if missing. Returns 0, or a negative UH_E* code. */
int paths_set_home(const char *dir);

/* Writes the directory for kind into buf (NUL-terminated). Returns 0, UH_ELIMIT if it does not
 * fit, UH_ENOTFOUND if neither a home nor $HOME is known. Does not create anything. */
int paths_dir(enum paths_kind kind, char *buf, size_t cap);

/* Like paths_dir, and creates the directory and its parents (mode 0700) if missing. */
int paths_ensure_dir(enum paths_kind kind, char *buf, size_t cap);

#endif
