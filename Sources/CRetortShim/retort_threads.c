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

/// Index value that marks the current job closed: no more claims.
#define RETORT_CLOSED 0xFFFFFFFFu

struct retort_pool {
    int32_t threads;
    pthread_t *workers;
    pthread_mutex_t mutex;
    pthread_cond_t wake;         // workers wait here for a new generation
    // The current job. The caller writes task/ctx/count only while the job word is closed, then
    // opens it; a worker reads them only after it has claimed an index of the open job, so a
    // worker that wakes late can never run another job's body.
    retort_pool_task task;
    void *ctx;
    _Atomic int64_t count;
    _Atomic uint64_t job;        // (generation << 32) | next index to hand out, or RETORT_CLOSED
    _Atomic int64_t done;        // indices of the current job that have finished
    _Atomic int32_t stop;
    _Atomic int32_t busy;        // 1 while a job runs: nested/concurrent calls go serial
};

/// Claims and runs indices of job `generation` until none are left.
static void retort_pool_drain(retort_pool *p, uint64_t generation) {
    for (;;) {
        uint64_t w = atomic_load(&p->job);
        if ((w >> 32) != generation || (uint32_t)w == RETORT_CLOSED) return;
        int64_t count = atomic_load(&p->count);
        uint32_t index = (uint32_t)w;
        if ((int64_t)index >= count) return;
        if (!atomic_compare_exchange_weak(&p->job, &w, w + 1)) continue;
        // The claim succeeded while the job was open, so task/ctx/count are this job's.
        p->task(p->ctx, (int64_t)index);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
}

static void *retort_pool_worker(void *arg) {
    retort_pool *p = (retort_pool *)arg;
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = atomic_load_explicit(&p->job, memory_order_acquire) >> 32;
        for (int spin = 0; gen == seen && spin < RETORT_SPIN; spin++) {
            RETORT_PAUSE();
            gen = atomic_load_explicit(&p->job, memory_order_acquire) >> 32;
        }
        if (gen == seen) {
            pthread_mutex_lock(&p->mutex);
            while ((gen = atomic_load_explicit(&p->job, memory_order_acquire) >> 32) == seen &&
                   !atomic_load_explicit(&p->stop, memory_order_relaxed))
                pthread_cond_wait(&p->wake, &p->mutex);
            pthread_mutex_unlock(&p->mutex);
        }
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        seen = gen;
        retort_pool_drain(p, gen);
    }
}

retort_pool *retort_pool_create(int32_t threads) {
    if (threads < 1) return NULL;
    retort_pool *p = (retort_pool *)calloc(1, sizeof(retort_pool));
    if (!p) return NULL;
    p->threads = threads;
    atomic_store(&p->job, (uint64_t)RETORT_CLOSED);     // generation 0, closed
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
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
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mutex);
    free(p->workers);
    free(p);
}

void retort_pool_run(retort_pool *p, int64_t count, retort_pool_task task, void *ctx) {
    if (count <= 0) return;
    int32_t idle = 0;
    if (p->threads == 1 || count == 1 || count >= (int64_t)RETORT_CLOSED ||
        !atomic_compare_exchange_strong_explicit(&p->busy, &idle, 1, memory_order_acquire,
                                                 memory_order_relaxed)) {
        for (int64_t i = 0; i < count; i++) task(ctx, i);
        return;
    }
    // The job word is closed here (initially, and after every job), so no worker reads these.
    uint64_t generation = (atomic_load(&p->job) >> 32) + 1;
    p->task = task;
    p->ctx = ctx;
    atomic_store(&p->count, count);
    atomic_store(&p->done, 0);
    pthread_mutex_lock(&p->mutex);
    atomic_store(&p->job, generation << 32);          // open: index 0 of the new generation
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);

    retort_pool_drain(p, generation);

    // Wait only for indices already claimed by workers that are still running them: a worker
    // that has not woken up yet finds the job closed later and does nothing.
    while (atomic_load_explicit(&p->done, memory_order_acquire) != count) RETORT_PAUSE();
    atomic_store(&p->job, (generation << 32) | RETORT_CLOSED);
    atomic_store_explicit(&p->busy, 0, memory_order_release);
}
