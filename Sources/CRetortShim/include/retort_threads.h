// A small pthread pool for RetortRuntime (no Dispatch, no Foundation). The Swift `ThreadPool`
// class wraps it; nothing else should call these directly.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Opaque pool: `threads - 1` worker pthreads plus the calling thread.
typedef struct retort_pool retort_pool;

/// A task body: called once per index with the context passed to `retort_pool_run`.
typedef void (*retort_pool_task)(void *ctx, int64_t index);

/// Creates a pool that runs jobs on `threads` threads (the caller counts as one). Returns NULL if
/// `threads < 1` or a thread could not be started.
retort_pool *retort_pool_create(int32_t threads);

/// Stops and joins the workers, then frees the pool. The pool must be idle.
void retort_pool_destroy(retort_pool *pool);

/// Calls `task(ctx, i)` exactly once for every i in 0..<count, distributed dynamically over the
/// workers and the caller; returns when all calls have finished. If the pool is already running a
/// job (a nested call from inside a task, or a concurrent call from another thread), the calls run
/// serially on the calling thread instead, so nesting never deadlocks.
void retort_pool_run(retort_pool *pool, int64_t count, retort_pool_task task, void *ctx);

#ifdef __cplusplus
}
#endif
