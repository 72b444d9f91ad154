// pthread pool behind RetortRuntime's ThreadPool. Workers spin briefly on a generation counter
// (cheap wake-up for back-to-back kernel calls), then sleep on a condition variable so an idle
// pool costs nothing on a shared machine.
#include "retort_threads.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#define RETORT_PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define RETORT_PAUSE() __asm__ __volatile__("yield")
#else
#define RETORT_PAUSE() ((void)0)
#endif

/// Spin iterations before a thread blocks (a few microseconds).
enum { RETORT_SPIN = 4000 };

struct retort_pool {
    int32_t threads;
    pthread_t *workers;
    pthread_mutex_t mutex;
    pthread_cond_t wake;         // workers wait here for a new generation
    pthread_cond_t finished;     // the caller waits here for `pending == 0`
    // The current job; written by the caller before `generation` is bumped (release).
    retort_pool_task task;
    void *ctx;
    int64_t count;
    _Atomic int64_t next;        // next index to hand out
    _Atomic int32_t pending;     // workers still working on the current generation
    _Atomic uint64_t generation; // bumped once per job
    _Atomic int32_t stop;
    _Atomic int32_t busy;        // 1 while a job runs: nested/concurrent calls go serial
};

static void retort_pool_drain(retort_pool *p, retort_pool_task task, void *ctx, int64_t count) {
    for (;;) {
        int64_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= count) return;
        task(ctx, i);
    }
}

static void *retort_pool_worker(void *arg) {
    retort_pool *p = (retort_pool *)arg;
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = atomic_load_explicit(&p->generation, memory_order_acquire);
        for (int spin = 0; gen == seen && spin < RETORT_SPIN; spin++) {
            RETORT_PAUSE();
            gen = atomic_load_explicit(&p->generation, memory_order_acquire);
        }
        if (gen == seen) {
            pthread_mutex_lock(&p->mutex);
            while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
                   !atomic_load_explicit(&p->stop, memory_order_relaxed))
                pthread_cond_wait(&p->wake, &p->mutex);
            pthread_mutex_unlock(&p->mutex);
        }
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        seen = gen;
        retort_pool_drain(p, p->task, p->ctx, p->count);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mutex);
            pthread_cond_signal(&p->finished);
            pthread_mutex_unlock(&p->mutex);
        }
    }
}

retort_pool *retort_pool_create(int32_t threads) {
    if (threads < 1) return NULL;
    retort_pool *p = (retort_pool *)calloc(1, sizeof(retort_pool));
    if (!p) return NULL;
    p->threads = threads;
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->finished, NULL);
    if (threads > 1) {
        p->workers = (pthread_t *)calloc((size_t)(threads - 1), sizeof(pthread_t));
        if (!p->workers) { free(p); return NULL; }
        for (int32_t i = 0; i < threads - 1; i++) {
            if (pthread_create(&p->workers[i], NULL, retort_pool_worker, p) != 0) {
                p->threads = i + 1; // join the ones that started
                retort_pool_destroy(p);
                return NULL;
            }
        }
    }
    return p;
}

void retort_pool_destroy(retort_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mutex);
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    for (int32_t i = 0; i < p->threads - 1; i++) pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->finished);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mutex);
    free(p->workers);
    free(p);
}

void retort_pool_run(retort_pool *p, int64_t count, retort_pool_task task, void *ctx) {
    if (count <= 0) return;
    int32_t idle = 0;
    if (p->threads == 1 || count == 1 ||
        !atomic_compare_exchange_strong_explicit(&p->busy, &idle, 1, memory_order_acquire,
                                                 memory_order_relaxed)) {
        for (int64_t i = 0; i < count; i++) task(ctx, i);
        return;
    }
    p->task = task;
    p->ctx = ctx;
    p->count = count;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->pending, p->threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mutex);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);

    retort_pool_drain(p, task, ctx, count);

    for (int spin = 0; spin < RETORT_SPIN; spin++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) break;
        RETORT_PAUSE();
    }
    if (atomic_load_explicit(&p->pending, memory_order_acquire) != 0) {
        pthread_mutex_lock(&p->mutex);
        while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0)
            pthread_cond_wait(&p->finished, &p->mutex);
        pthread_mutex_unlock(&p->mutex);
    }
    atomic_store_explicit(&p->busy, 0, memory_order_release);
}
