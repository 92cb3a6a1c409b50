// A tiny fork-join pool: `parallel_for(n, fn)` runs fn(0..n-1) on the calling thread plus the
// pool's workers, and returns when all tasks are done. Tasks are claimed from an atomic counter, so
// uneven tasks balance themselves.
//
// The pool is process-wide and shared by every Node environment (main thread and worker_threads).
// Only one parallel_for runs at a time: a second caller that finds the pool busy runs its tasks
// alone on its own thread instead of waiting. Between jobs workers spin briefly, then block on a
// condition variable (see thread_pool.cc for why, and VLAB_NATIVE_SPIN_US). The workers are
// detached and the pool is never destroyed, so process exit never waits for (or joins) them.
#pragma once

#include <functional>

namespace vlab {

// Number of threads parallel_for uses (the caller included); at least 1.
int pool_threads();

// Sets the thread count (1 = no workers). Starts workers as needed; surplus workers stay idle.
void set_pool_threads(int n);

// Runs fn(i) for i in [0, n) and waits. With one thread, or when the pool is busy, runs inline.
void parallel_for(int n, const std::function<void(int)>& fn);

}  // namespace vlab
