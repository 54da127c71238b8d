// Softmax + cross-entropy over the rows of row-major logits (rows x cols) with integer class targets.
//
//   forward:  one block per row (grid-stride over rows): m = max_j l_j, s = sum_j exp(l_j - m),
//             probs_j = exp(l_j - m) / s, loss = log(s) - (l_t - m); a target outside [0, cols) gives loss NaN.
//   backward: one pass over rows * cols: dlogits = (probs - onehot(target)) * grad_rows[row].

__device__ __forceinline__ float gn_nan(float) { return nanf(""); }
__device__ __forceinline__ double gn_nan(double) { return nan(""); }

struct GnMaxOp {
    template <typename T>
    __device__ __forceinline__ T operator()(T a, T b) const {
        return (a > b || a != a) ? a : b;  // NaN wins, as NumPy's max
    }
};

struct GnSumOp {
    template <typename T>
    __device__ __forceinline__ T operator()(T a, T b) const {
        return a + b;
    }
};

// Reduction over the block's threadIdx.x (blockDim.x a power of two, blockDim.y == 1) through sm
// (blockDim.x elements of shared memory); every thread gets the result. Every thread must call it.
template <typename T, typename Op>
__device__ __forceinline__ T gn_block_reduce(T v, T* sm, Op op) {
    sm[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sm[threadIdx.x] = op(sm[threadIdx.x], sm[threadIdx.x + s]);
        __syncthreads();
    }
    const T r = sm[0];
    __syncthreads();  // sm is reused by the next reduction
    return r;
}

// Dynamic shared memory: blockDim.x * sizeof(T) bytes.
template <typename T>
__global__ void softmax_xent_forward(const T* logits, const long long* target, T* loss, T* probs,
                                     long long rows, long long cols) {
    T* sm = reinterpret_cast<T*>(gn_smem);
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* l = logits + r * cols;
        T* p = probs + r * cols;
        T m = l[0];
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) m = GnMaxOp()(m, l[j]);
        m = gn_block_reduce(m, sm, GnMaxOp());
        T s = T(0);
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) s += gn_exp(l[j] - m);
        s = gn_block_reduce(s, sm, GnSumOp());
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) p[j] = gn_exp(l[j] - m) / s;
        if (threadIdx.x == 0) {
            const long long t = target[r];
            loss[r] = (t >= 0 && t < cols) ? gn_log(s) - (l[t] - m) : gn_nan(T(0));
        }
    }
}

// 1-D launch over n = rows * cols.
template <typename T>
__global__ void softmax_xent_backward(const T* probs, const long long* target, const T* grad_rows, T* dlogits,
                                      long long n, long long cols) {
    for (long long i = gn_thread_index(); i < n; i += gn_grid_stride()) {
        const long long r = i / cols;
        T d = probs[i];
        if (i - r * cols == target[r]) d -= T(1);
        dlogits[i] = d * grad_rows[r];
    }
}

// Class-label check, 1-D launch over the n labels: *first <- the least i whose target[i] is outside
// [0, n_classes) and is not the ignore index (when has_ignore); the host presets *first = n (no bad label) and
// reads it later, with other pending checks (gpunet/backend/_deferred.py). T is unused (one per module dtype).
template <typename T>
__global__ void label_check(const long long* target, long long n, long long n_classes, long long ignore,
                            int has_ignore, long long* first) {
    for (long long i = gn_thread_index(); i < n; i += gn_grid_stride()) {
        const long long t = target[i];
        if ((t < 0 || t >= n_classes) && !(has_ignore && t == ignore)) atomicMin(first, i);
    }
}
