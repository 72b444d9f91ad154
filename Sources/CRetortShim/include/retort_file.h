// File helpers for the .rtm reader (RetortRuntime/Format), beside retort_shim.h: errno is a macro
// and strerror's result is only usable from C, so both are wrapped here.
#pragma once
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/// errno of the calling thread, right after a failed call.
static inline int retort_errno(void) { return errno; }

/// A static description of `code` (strerror).
static inline const char *retort_error_string(int code) { return strerror(code); }

/// 1 if `fd` is a regular file, 0 if it is something else (directory, pipe, device), -1 on error.
static inline int retort_is_regular_file(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    return S_ISREG(st.st_mode) ? 1 : 0;
}
