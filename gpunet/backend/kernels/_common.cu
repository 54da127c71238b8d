// Shared prelude: prepended to every other kernels/*.cu source by gpunet/backend/_kernels.py.
//
// No #include: NVRTC supplies the CUDA built-ins (threadIdx, atomicAdd, expf, erf ...) without system headers,
// so these sources compile wherever CuPy's RawModule does. Every kernel is a template over the element type T
// (float or double), instantiated through RawModule's name_expressions ("kernel<float>", "kernel<double>").
// Indices are 64-bit (long long): N * C may exceed 2^31.

// ---------------------------------------------------------------------------------------- math per precision
__device__ __forceinline__ float  gn_exp(float x)  { return expf(x); }
__device__ __forceinline__ double gn_exp(double x) { return exp(x); }
__device__ __forceinline__ float  gn_log(float x)  { return logf(x); }
__device__ __forceinline__ double gn_log(double x) { return log(x); }
__device__ __forceinline__ float  gn_sqrt(float x)  { return sqrtf(x); }
__device__ __forceinline__ double gn_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float  gn_tanh(float x)  { return tanhf(x); }
__device__ __forceinline__ double gn_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float  gn_erf(float x)  { return erff(x); }
__device__ __forceinline__ double gn_erf(double x) { return erf(x); }
__device__ __forceinline__ float  gn_abs(float x)  { return fabsf(x); }
__device__ __forceinline__ double gn_abs(double x) { return fabs(x); }

// Numerically stable logistic: never exponentiates a positive number.
template <typename T>
__device__ __forceinline__ T gn_sigmoid(T z) {
    T e = gn_exp(-gn_abs(z));
    return z >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
}

// ---------------------------------------------------------------------------------------- atomics
// atomicAdd on double exists from compute capability 6.0 (Pascal) on; before, a compare-and-swap loop.
template <typename T>
__device__ __forceinline__ T gn_atomic_add(T* address, T value) {
    return atomicAdd(address, value);
}
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 600
template <>
__device__ __forceinline__ double gn_atomic_add<double>(double* address, double value) {
    unsigned long long* bits = reinterpret_cast<unsigned long long*>(address);
    unsigned long long old = *bits, assumed;
    do {
        assumed = old;
        old = atomicCAS(bits, assumed,
                        (unsigned long long)__double_as_longlong(value + __longlong_as_double((long long)assumed)));
    } while (assumed != old);  // integer comparison: also ends when the value is NaN
    return __longlong_as_double((long long)old);
}
#endif

// ---------------------------------------------------------------------------------------- launch helpers
// Global thread index and grid stride of a 1-D launch, in 64 bits.
__device__ __forceinline__ long long gn_thread_index() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ long long gn_grid_stride() {
    return (long long)gridDim.x * blockDim.x;
}

// Dynamic shared memory, aligned for double (sized by the host at launch).
extern __shared__ __align__(8) unsigned char gn_smem[];

// ---------------------------------------------------------------------------------------- Welford / Chan
// Running (count, mean, M2) of a stream of values; M2 = sum of squared deviations from the mean.
template <typename T>
struct GnMoments {
    long long n;
    T mean;
    T m2;
};

template <typename T>
__device__ __forceinline__ void gn_welford_add(GnMoments<T>& a, T v) {
    a.n += 1;
    T d = v - a.mean;
    a.mean += d / T(a.n);
    a.m2 += d * (v - a.mean);
}

// Chan et al.: merge the moments of two disjoint sets into a.
template <typename T>
__device__ __forceinline__ void gn_chan_merge(GnMoments<T>& a, long long nb, T mean_b, T m2_b) {
    if (nb == 0) return;
    if (a.n == 0) {
        a.n = nb;
        a.mean = mean_b;
        a.m2 = m2_b;
        return;
    }
    long long n = a.n + nb;
    T delta = mean_b - a.mean;
    T fb = T(nb) / T(n);
    a.mean += delta * fb;
    a.m2 += m2_b + delta * delta * T(a.n) * fb;
    a.n = n;
}

// ---------------------------------------------------------------------------------------- column reductions
// The 2-D "column" launch used by every per-feature reduction over a row-major (rows x cols) array:
// blockDim = (bx, by), both powers of two; block (X, Y) owns columns X*bx + threadIdx.x and visits rows
// Y*by + threadIdx.y, Y*by + threadIdx.y + gridDim.y*by, ... (consecutive threadIdx.x read consecutive
// addresses). gn_column() is this thread's column, gn_row0()/gn_row_stride() its first row and row step.
__device__ __forceinline__ long long gn_column() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ long long gn_row0() {
    return (long long)blockIdx.y * blockDim.y + threadIdx.y;
}
__device__ __forceinline__ long long gn_row_stride() {
    return (long long)gridDim.y * blockDim.y;
}
// Index of this thread's slot in a (by x bx) shared-memory tile.
__device__ __forceinline__ unsigned int gn_slot() {
    return threadIdx.y * blockDim.x + threadIdx.x;
}

// The end of a column reduction: the block's total v of column c goes into out.
//   ld == 0: atomicAdd into out (zeroed by the host). Fast, but the blocks' additions land in whatever order
//            they run, so a float total can differ in its last bits from run to run.
//   ld > 0:  a plain store of this block row's partial, out[blockIdx.y * ld + c]: the total itself when
//            gridDim.y == 1, else a (gridDim.y x ld) workspace that column_sum (reduce.cu) adds up in a fixed
//            order (deterministic mode, gpunet.use_deterministic_algorithms).
template <typename T>
__device__ __forceinline__ void gn_column_store(T* out, long long c, T v, long long ld) {
    if (ld > 0) {
        out[(long long)blockIdx.y * ld + c] = v;
    } else {
        gn_atomic_add(out + c, v);
    }
}

// Tree sum over threadIdx.y of a (by x bx) shared tile: afterwards part[threadIdx.x] holds the column's sum.
// Every thread of the block must call it, after writing its own slot.
template <typename T>
__device__ __forceinline__ void gn_tree_sum_y(T* part) {
    __syncthreads();
    for (unsigned int s = blockDim.y / 2; s > 0; s >>= 1) {
        if (threadIdx.y < s) part[gn_slot()] += part[gn_slot() + s * blockDim.x];
        __syncthreads();
    }
}
