// The CUDA emulator's runtime: what a .cu kernel source needs in order to compile with g++ and run on the CPU.
//
// Included before the unchanged kernel source (tests/cuda_emulator/emulator.py assembles the translation unit).
// Each CUDA thread of a block runs as a fiber on its own stack; __syncthreads() switches back to the block's
// scheduler, which runs every other thread of the block up to the same barrier before any goes on. Blocks run
// one after another. Orders (forward, reverse, shuffled: threads reshuffled at every barrier, blocks shuffled)
// are chosen per launch, so a missing barrier or a race between blocks changes the result or trips a check.
// Dynamic shared memory is allocated to the exact size asked at launch and filled with 0xFF bytes (a NaN for
// float and double) before every block, so an overrun (with -fsanitize=address) or a read of a slot no thread
// wrote shows.
//
// Not modelled: warps and warp intrinsics (__shfl*, __ballot*, warp-synchronous code), the memory model
// (fences, visibility between threads without a barrier: here every write is seen at once), -ftz (subnormals
// are kept), FMA contraction (g++ is told -ffp-contract=off), cuBLAS, streams and timing.
#pragma once

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#if !defined(__x86_64__) || defined(GNEMU_UCONTEXT)
#include <ucontext.h>
#define GNEMU_USE_UCONTEXT 1
#endif

#ifndef __CUDA_ARCH__
#define __CUDA_ARCH__ 900
#endif
#define __CUDACC__ 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __shared__
#define __constant__
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)

struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x, y, z;
    dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace gnemu {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Fiber {
    uint3 tid;
    void* sp = nullptr;           // saved stack pointer (custom switch)
#ifdef GNEMU_USE_UCONTEXT
    ucontext_t ctx;
#endif
    char* stack = nullptr;
    bool done = false;
    bool at_barrier = false;
    long long barriers = 0;
};

// The launch being run (one at a time: the emulator is single-threaded).
struct State {
    uint3 block_idx{0, 0, 0};
    dim3 block_dim, grid_dim;
    unsigned char* smem = nullptr;
    Fiber* current = nullptr;
    void* sched_sp = nullptr;
#ifdef GNEMU_USE_UCONTEXT
    ucontext_t sched_ctx;
#endif
    void (*body)(void*) = nullptr;   // runs the kernel for State::current with the decoded arguments
    void* body_arg = nullptr;
};
inline State& state() { static State s; return s; }

inline unsigned char* dynamic_shared() { return state().smem; }

#ifndef GNEMU_USE_UCONTEXT
// Switch stacks: push the callee-saved registers, save rsp into *from, load `to`, pop, return into it.
extern "C" void gnemu_switch(void** from, void* to);
asm(R"(
    .text
    .globl gnemu_switch
    .type gnemu_switch, @function
gnemu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size gnemu_switch, .-gnemu_switch
)");
#endif

inline void to_scheduler() {
    State& s = state();
#ifdef GNEMU_USE_UCONTEXT
    swapcontext(&s.current->ctx, &s.sched_ctx);
#else
    gnemu_switch(&s.current->sp, s.sched_sp);
#endif
}

extern "C" inline void gnemu_fiber_entry() {
    State& s = state();
    s.body(s.body_arg);
    s.current->done = true;
    to_scheduler();
    abort();  // a finished fiber is never resumed
}

inline void sync_threads() {
    State& s = state();
    s.current->at_barrier = true;
    s.current->barriers += 1;
    to_scheduler();
}

constexpr size_t kStack = 64 * 1024;

struct Block {
    std::vector<Fiber> fibers;
    std::vector<char*> stacks;
    ~Block() {
        for (char* p : stacks) free(p);
    }
    void prepare(size_t n) {
        while (stacks.size() < n) stacks.push_back(static_cast<char*>(aligned_alloc(64, kStack)));
        fibers.assign(n, Fiber());
        for (size_t i = 0; i < n; ++i) fibers[i].stack = stacks[i];
    }
};

inline void start(Fiber& f) {
#ifdef GNEMU_USE_UCONTEXT
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = kStack;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, (void (*)())gnemu_fiber_entry, 0);
#else
    // A stack that gnemu_switch "returns" into gnemu_fiber_entry from: six zeroed callee-saved slots, then the
    // entry's address; the return address sits 16-byte aligned, so the entry sees rsp % 16 == 8 as after a call.
    uintptr_t top = (reinterpret_cast<uintptr_t>(f.stack) + kStack) & ~uintptr_t(15);
    void** sp = reinterpret_cast<void**>(top - 16);
    sp[0] = reinterpret_cast<void*>(&gnemu_fiber_entry);
    sp -= 6;
    for (int i = 0; i < 6; ++i) sp[i] = nullptr;
    f.sp = sp;
#endif
}

inline void resume(Fiber& f) {
    State& s = state();
    s.current = &f;
    f.at_barrier = false;
#ifdef GNEMU_USE_UCONTEXT
    swapcontext(&s.sched_ctx, &f.ctx);
#else
    gnemu_switch(&s.sched_sp, f.sp);
#endif
}

// After a round in which some threads stopped at a barrier: "" when every thread of the block waits at the same
// one, else what is wrong (CUDA leaves both cases undefined: a hang or a wrong result).
inline std::string check_barrier(const std::vector<Fiber>& fibers) {
    long long count = -1;
    size_t done = 0, waiting = 0;
    for (const Fiber& f : fibers) {
        if (f.done) { ++done; continue; }
        ++waiting;
        if (count < 0) count = f.barriers;
        else if (f.barriers != count)
            return "threads of one block wait at different __syncthreads() calls (barrier " + std::to_string(count) +
                   " and " + std::to_string(f.barriers) + "): a barrier inside divergent code";
    }
    if (done)
        return "__syncthreads() reached by " + std::to_string(waiting) + " of " + std::to_string(fibers.size()) +
               " threads (the others returned): a barrier inside divergent code";
    return "";
}

// order: 0 forward, 1 reverse, 2 shuffled (seeded). Runs every block of the grid; throws gnemu::Error on a
// barrier that not every thread of a block reaches.
inline void run_grid(dim3 grid, dim3 block, size_t smem_bytes, int order, unsigned seed) {
    State& s = state();
    s.grid_dim = grid;
    s.block_dim = block;
    size_t nthreads = size_t(block.x) * block.y * block.z;
    size_t nblocks = size_t(grid.x) * grid.y * grid.z;
    if (nthreads == 0 || nthreads > 1024) throw Error("block of " + std::to_string(nthreads) + " threads (1..1024)");
    std::mt19937 rng(seed);
    std::vector<size_t> border(nblocks), torder(nthreads);
    for (size_t i = 0; i < nblocks; ++i) border[i] = order == 1 ? nblocks - 1 - i : i;
    if (order == 2) std::shuffle(border.begin(), border.end(), rng);
    static Block b;
    b.prepare(nthreads);
    unsigned char* smem = static_cast<unsigned char*>(malloc(smem_bytes ? smem_bytes : 1));
    s.smem = smem_bytes ? smem : nullptr;
    for (size_t bi : border) {
        s.block_idx = uint3{unsigned(bi % grid.x), unsigned((bi / grid.x) % grid.y), unsigned(bi / (size_t(grid.x) * grid.y))};
        memset(smem, 0xFF, smem_bytes ? smem_bytes : 1);
        b.fibers.assign(nthreads, Fiber());
        for (size_t t = 0; t < nthreads; ++t) {
            Fiber& f = b.fibers[t];
            f.stack = b.stacks[t];
            f.tid = uint3{unsigned(t % block.x), unsigned((t / block.x) % block.y), unsigned(t / (size_t(block.x) * block.y))};
            start(f);
        }
        size_t remaining = nthreads;
        while (remaining) {
            for (size_t i = 0; i < nthreads; ++i) torder[i] = order == 1 ? nthreads - 1 - i : i;
            if (order == 2) std::shuffle(torder.begin(), torder.end(), rng);
            size_t waiting = 0, finished_now = 0;
            for (size_t t : torder) {
                Fiber& f = b.fibers[t];
                if (f.done) continue;
                resume(f);
                if (f.done) finished_now += 1;
                else waiting += 1;
            }
            remaining -= finished_now;  // the others stand at a barrier
            if (waiting) {
                std::string why = check_barrier(b.fibers);
                if (!why.empty()) {
                    free(smem);
                    s.smem = nullptr;
                    throw Error(why + " (block " + std::to_string(bi) + ")");
                }
            }
        }
    }
    free(smem);
    s.smem = nullptr;
}

// ------------------------------------------------------------------------------------------ kernel arguments
// The C type of a parameter, as the Python side checks it: "f4", "f8", "i4", "i8", "u4", "u8", "b1", "i1",
// "u1", "i2", "u2", with a trailing "*" for a pointer (const or not).
template <typename T> struct code_of { static const char* get() { return "?"; } };
#define GNEMU_CODE(T, c) template <> struct code_of<T> { static const char* get() { return c; } };
GNEMU_CODE(float, "f4") GNEMU_CODE(double, "f8") GNEMU_CODE(int, "i4") GNEMU_CODE(unsigned int, "u4")
GNEMU_CODE(long long, "i8") GNEMU_CODE(unsigned long long, "u8") GNEMU_CODE(long, "i8")
GNEMU_CODE(unsigned long, "u8") GNEMU_CODE(bool, "b1") GNEMU_CODE(signed char, "i1") GNEMU_CODE(char, "i1")
GNEMU_CODE(unsigned char, "u1") GNEMU_CODE(short, "i2") GNEMU_CODE(unsigned short, "u2")
#undef GNEMU_CODE

template <typename T> std::string param_code() {
    using U = std::remove_cv_t<std::remove_reference_t<T>>;
    if constexpr (std::is_pointer_v<U>) return std::string(code_of<std::remove_cv_t<std::remove_pointer_t<U>>>::get()) + "*";
    else return code_of<U>::get();
}

template <typename... P> std::string signature(void (*)(P...)) {
    std::string out;
    ((out += param_code<P>() + ","), ...);
    if (!out.empty()) out.pop_back();
    return out;
}

template <typename... P, size_t... I>
std::tuple<std::remove_cv_t<P>...> decode(void** args, std::index_sequence<I...>) {
    return std::tuple<std::remove_cv_t<P>...>(*reinterpret_cast<std::remove_cv_t<P>*>(args[I])...);
}

template <typename... P>
struct Call {
    void (*kernel)(P...);
    std::tuple<std::remove_cv_t<P>...> args;
    static void run(void* self) {
        auto* c = static_cast<Call*>(self);
        std::apply(c->kernel, c->args);
    }
};

// Launch `kernel` over the grid; args[i] points at the value of parameter i. Returns 0, or 1 with `err` set.
template <typename... P>
int launch(void (*kernel)(P...), void** args, const unsigned* grid, const unsigned* block, size_t smem, int order,
           unsigned seed, char* err, size_t errlen) {
    Call<P...> call{kernel, decode<P...>(args, std::index_sequence_for<P...>{})};
    State& s = state();
    s.body = &Call<P...>::run;
    s.body_arg = &call;
    try {
        run_grid(dim3(grid[0], grid[1], grid[2]), dim3(block[0], block[1], block[2]), smem, order, seed);
    } catch (const std::exception& e) {
        snprintf(err, errlen, "%s", e.what());
        return 1;
    }
    return 0;
}

}  // namespace gnemu

// ------------------------------------------------------------------------------------------ CUDA built-ins
#define threadIdx (::gnemu::state().current->tid)
#define blockIdx (::gnemu::state().block_idx)
#define blockDim (::gnemu::state().block_dim)
#define gridDim (::gnemu::state().grid_dim)
#define __syncthreads() ::gnemu::sync_threads()

// Fibers switch only at barriers, so a read-modify-write is atomic here. The overloads are CUDA's (no template:
// arguments convert as they do there).
#define GNEMU_ATOMIC(T)                                                                          \
    inline T atomicAdd(T* p, T v) { T o = *p; *p = o + v; return o; }                           \
    inline T atomicExch(T* p, T v) { T o = *p; *p = v; return o; }
#define GNEMU_ATOMIC_INT(T)                                                                      \
    GNEMU_ATOMIC(T)                                                                              \
    inline T atomicSub(T* p, T v) { T o = *p; *p = o - v; return o; }                           \
    inline T atomicMax(T* p, T v) { T o = *p; if (v > o) *p = v; return o; }                   \
    inline T atomicMin(T* p, T v) { T o = *p; if (v < o) *p = v; return o; }                   \
    inline T atomicOr(T* p, T v) { T o = *p; *p = o | v; return o; }                            \
    inline T atomicAnd(T* p, T v) { T o = *p; *p = o & v; return o; }                           \
    inline T atomicCAS(T* p, T compare, T v) { T o = *p; if (o == compare) *p = v; return o; }
GNEMU_ATOMIC_INT(int)
GNEMU_ATOMIC_INT(unsigned int)
GNEMU_ATOMIC_INT(unsigned long long)
inline long long atomicMin(long long* p, long long v) { long long o = *p; if (v < o) *p = v; return o; }
inline long long atomicMax(long long* p, long long v) { long long o = *p; if (v > o) *p = v; return o; }
GNEMU_ATOMIC(float)
#if __CUDA_ARCH__ >= 600  // before compute capability 6.0 CUDA has no atomicAdd on double: neither has this
GNEMU_ATOMIC(double)
#endif
#undef GNEMU_ATOMIC
#undef GNEMU_ATOMIC_INT
inline long long __double_as_longlong(double x) { long long r; memcpy(&r, &x, 8); return r; }
inline double __longlong_as_double(long long x) { double r; memcpy(&r, &x, 8); return r; }
inline int __float_as_int(float x) { int r; memcpy(&r, &x, 4); return r; }
inline float __int_as_float(int x) { float r; memcpy(&r, &x, 4); return r; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
using std::max;
using std::min;
