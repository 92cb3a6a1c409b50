// The fork-join pool declared in thread_pool.h.
//
// Waking a sleeping thread is slow on the machines this targets: on a 2-vCPU VM a condition-variable
// wake-up took 50-400 µs (the idle vCPU has to be rescheduled by the host). So after a job the
// workers, and the caller waiting for them, spin for a short while (VLAB_NATIVE_SPIN_US, default
// 200 µs; 0 disables) before blocking: the large matmuls of a backward pass often follow each other
// that closely. The spin yields the core on every round (sched_yield), so another runnable process
// still gets it; longer spins were measured to hurt when other processes compete for the cores.
#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define VLAB_PAUSE() _mm_pause()
#else
#define VLAB_PAUSE() ((void)0)
#endif

namespace vlab {
namespace {

using Clock = std::chrono::steady_clock;

long spin_microseconds() {
  const char* env = std::getenv("VLAB_NATIVE_SPIN_US");
  if (env && *env) return std::max(0L, std::atol(env));
  return 200;
}

// Spins until pred() holds or `us` microseconds pass; returns pred().
template <class Pred>
bool spin_until(Pred pred, long us) {
  if (us <= 0) return pred();
  const auto deadline = Clock::now() + std::chrono::microseconds(us);
  for (;;) {
    for (int i = 0; i < 64; i++) {
      if (pred()) return true;
      VLAB_PAUSE();
    }
    if (Clock::now() >= deadline) return pred();
    std::this_thread::yield();
  }
}

struct Pool {
  std::mutex busy;  // held by the caller of the running parallel_for

  std::mutex m;
  std::condition_variable wake;  // workers block here between jobs (after spinning)
  std::condition_variable done;  // the caller blocks here for the last worker (after spinning)
  std::atomic<long> generation{0};  // bumped (under m) for every job
  int started = 0;                  // worker threads started so far (under m)
  std::atomic<int> wanted{1};       // threads (caller included) a job uses
  std::atomic<int> running{0};      // workers still inside the current job
  const long spin_us = spin_microseconds();

  // The current job, written before `generation` is bumped.
  const std::function<void(int)>* fn = nullptr;
  int n = 0;
  int participants = 0;
  std::atomic<int> next{0};

  void drain() {
    for (int i = next.fetch_add(1); i < n; i = next.fetch_add(1)) (*fn)(i);
  }

  void worker(int index) {
    long seen = generation.load();
    for (;;) {
      if (!spin_until([&] { return generation.load(std::memory_order_acquire) != seen; }, spin_us)) {
        std::unique_lock<std::mutex> lock(m);
        wake.wait(lock, [&] { return generation.load() != seen; });
      }
      seen = generation.load(std::memory_order_acquire);
      if (index >= participants) continue;  // not needed for this job
      drain();
      if (running.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lock(m);
        done.notify_one();
      }
    }
  }
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: detached workers may still wait on it at exit
  return *p;
}

}  // namespace

int pool_threads() { return pool().wanted.load(); }

void set_pool_threads(int n) {
  if (n < 1) n = 1;
  if (n > 64) n = 64;
  Pool& p = pool();
  std::lock_guard<std::mutex> busy(p.busy);
  std::lock_guard<std::mutex> lock(p.m);
  while (p.started < n - 1) {
    std::thread(&Pool::worker, &p, p.started).detach();
    p.started++;
  }
  p.wanted = n;
}

void parallel_for(int n, const std::function<void(int)>& fn) {
  if (n <= 0) return;
  Pool& p = pool();
  std::unique_lock<std::mutex> busy(p.busy, std::try_to_lock);
  const int helpers = busy.owns_lock() ? std::min(p.wanted.load() - 1, n - 1) : 0;
  if (helpers <= 0) {
    for (int i = 0; i < n; i++) fn(i);
    return;
  }
  p.fn = &fn;
  p.n = n;
  p.next.store(0);
  p.participants = helpers;
  p.running.store(helpers);
  {
    std::lock_guard<std::mutex> lock(p.m);  // no worker can miss the bump between its check and its wait
    p.generation.fetch_add(1, std::memory_order_release);
  }
  p.wake.notify_all();
  p.drain();
  if (!spin_until([&] { return p.running.load(std::memory_order_acquire) == 0; }, p.spin_us)) {
    std::unique_lock<std::mutex> lock(p.m);
    p.done.wait(lock, [&] { return p.running.load() == 0; });
  }
  p.fn = nullptr;
}

}  // namespace vlab
