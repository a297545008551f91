#ifndef PXSH_CLIBEDIT_SHIM_H
#define PXSH_CLIBEDIT_SHIM_H

// libedit, the BSD line editor. pkg-config puts /usr/include/editline on the
// include path, so <editline/readline.h> is libedit's readline emulation and
// never GNU readline's <readline/readline.h>, which may be installed as well.
#include <stdio.h>
#include <histedit.h>
#include <editline/readline.h>

// `history()` is variadic, so Swift cannot call it. Each wrapper below makes
// one of its requests callable. They work on a `History` of the caller's own
// (from `history_init()`), never on the one inside the readline emulation.
//
// Strings passed in are copied by libedit. Strings returned point into the
// `History` and stay valid only until the next call that changes it.

/// Keeps at most `size` entries, dropping the oldest first.
///
/// Wraps `history(h, &ev, H_SETSIZE, size)`. Returns 0, or -1 on failure.
static inline int clibedit_history_set_size(History *h, int size) {
    HistEvent ev;
    return history(h, &ev, H_SETSIZE, size);
}

/// Adds `line` as the newest entry.
///
/// Wraps `history(h, &ev, H_ENTER, line)`. Returns 0, or -1 on failure.
static inline int clibedit_history_enter(History *h, const char *line) {
    HistEvent ev;
    return history(h, &ev, H_ENTER, line) == -1 ? -1 : 0;
}

/// Removes every entry.
///
/// Wraps `history(h, &ev, H_CLEAR)`.
static inline void clibedit_history_clear(History *h) {
    HistEvent ev;
    (void)history(h, &ev, H_CLEAR);
}

/// Appends the entries of a history file to `h`, oldest first.
///
/// Wraps `history(h, &ev, H_LOAD, path)`. Returns the number of entries in
/// the file (more than `h` keeps when the file is longer than its size), or
/// -1 when the file cannot be read or does not start with libedit's
/// `_HiStOrY_V2_` line.
static inline int clibedit_history_load(History *h, const char *path) {
    HistEvent ev;
    return history(h, &ev, H_LOAD, path);
}

/// Writes every entry of `h` to `file` in libedit's format, oldest first.
///
/// Wraps `history(h, &ev, H_SAVE_FP, file)`. libedit writes the
/// `_HiStOrY_V2_` line first if `ftell(file)` is 0, and makes the file
/// readable by its owner only. The caller keeps ownership of `file`.
/// Returns the number of entries written, or -1 on failure.
static inline int clibedit_history_save_to_file(History *h, FILE *file) {
    HistEvent ev;
    return history(h, &ev, H_SAVE_FP, file);
}

/// Moves to the oldest entry and returns it, or NULL when `h` is empty.
///
/// Wraps `history(h, &ev, H_LAST)`: libedit counts from the newest entry, so
/// its "last" entry is the oldest one.
static inline const char *clibedit_history_oldest(History *h) {
    HistEvent ev;
    return history(h, &ev, H_LAST) == -1 ? NULL : ev.str;
}

/// Moves to the next newer entry and returns it, or NULL past the newest.
///
/// Wraps `history(h, &ev, H_PREV)`: "previous" in libedit's order, which runs
/// from the newest entry to the oldest.
static inline const char *clibedit_history_newer(History *h) {
    HistEvent ev;
    return history(h, &ev, H_PREV) == -1 ? NULL : ev.str;
}

#endif
