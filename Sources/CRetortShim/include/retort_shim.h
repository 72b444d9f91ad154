// Syscalls the runtime needs, wrapped in static inline functions so Swift (including Embedded
// Swift) can call them: variadic C functions such as open(2) are not importable.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

/// Opens `path` read-only. Returns the descriptor or -1.
static inline int retort_open_read(const char *path) { return open(path, O_RDONLY | O_CLOEXEC); }

/// Size in bytes of an open file, or -1.
static inline int64_t retort_file_size(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    return (int64_t)st.st_size;
}

/// Maps `size` bytes of `fd` read-only and private. Returns NULL on failure.
static inline const void *retort_mmap_read(int fd, size_t size) {
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

static inline int retort_munmap(const void *p, size_t size) { return munmap((void *)p, size); }
static inline int retort_close(int fd) { return close(fd); }

/// Aligned allocation; NULL on failure. Free with retort_free.
static inline void *retort_aligned_alloc(size_t alignment, size_t size) {
    void *p = NULL;
    return posix_memalign(&p, alignment, size == 0 ? alignment : size) == 0 ? p : NULL;
}
static inline void retort_free(void *p) { free(p); }

/// Monotonic clock in nanoseconds.
static inline uint64_t retort_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
