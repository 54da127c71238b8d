// Attention: the scaled, masked softmax of the scores (rows x cols, row r = query i of batch b = r / L), in place.
//
//   forward:  one block per row (grid-stride over rows): z_j = s_j * scale, masked (bool mask: key j takes part
//             where the mask is true; additive mask: z_j += mask) and causal (keys j > i dropped) ->
//             m = max_j z_j, t = sum_j exp(z_j - m), p_j = exp(z_j - m) / t. A row with no key left becomes
//             zeros (safe) or NaN. The mask of row (b, i), key j is mask[moff[b] + i * msi + j * msj].
//   backward: one block per row: t = sum_j dp_j * p_j, ds_j = p_j * (dp_j - t) * mult, written over dp.
// Reductions go through shared memory (blockDim.x a power of two, a tree over threadIdx.x); no warp intrinsics.

#define GN_MASK_NONE 0
#define GN_MASK_BOOL 1
#define GN_MASK_ADD 2

__device__ __forceinline__ float gn_attn_nan(float) { return nanf(""); }
__device__ __forceinline__ double gn_attn_nan(double) { return nan(""); }
__device__ __forceinline__ float gn_attn_ninf(float) { return -__int_as_float(0x7f800000); }
__device__ __forceinline__ double gn_attn_ninf(double) { return -__longlong_as_double(0x7ff0000000000000LL); }

// Tree reduction over threadIdx.x through sm (blockDim.x elements); every thread gets the result and must call it.
template <typename T, bool IS_MAX>
__device__ __forceinline__ T gn_attn_reduce(T v, T* sm) {
    sm[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            const T a = sm[threadIdx.x], b = sm[threadIdx.x + s];
            sm[threadIdx.x] = IS_MAX ? ((a > b || a != a) ? a : b) : a + b;  // max: NaN wins
        }
        __syncthreads();
    }
    const T r = sm[0];
    __syncthreads();  // sm is reused by the next reduction
    return r;
}

// Dynamic shared memory: blockDim.x * sizeof(T) bytes. bmask / fmask: the bool / additive mask (kind), the other
// a placeholder; moff: one offset per batch (read only when kind != GN_MASK_NONE).
template <typename T>
__global__ void attn_softmax_forward(T* s, const bool* bmask, const T* fmask, const long long* moff,
                                     long long rows, long long L, long long cols, long long msi, long long msj,
                                     int kind, int causal, int safe, T scale) {
    T* sm = reinterpret_cast<T*>(gn_smem);
    const T ninf = gn_attn_ninf(T(0));
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        T* row = s + r * cols;
        const long long i = r % L;
        const long long mo = kind != GN_MASK_NONE ? moff[r / L] + i * msi : 0;
        const long long jn = causal ? (i + 1 < cols ? i + 1 : cols) : cols;
        T m = ninf;
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
            T z = ninf;
            if (j < jn) {
                z = row[j] * scale;
                if (kind == GN_MASK_BOOL) {
                    if (!bmask[mo + j * msj]) z = ninf;
                } else if (kind == GN_MASK_ADD) {
                    z += fmask[mo + j * msj];
                }
            }
            row[j] = z;
            m = (z > m || z != z) ? z : m;
        }
        m = gn_attn_reduce<T, true>(m, sm);
        if (m == ninf || m != m) {
            const T fill = (safe && m == ninf) ? T(0) : gn_attn_nan(T(0));
            for (long long j = threadIdx.x; j < cols; j += blockDim.x) row[j] = fill;
            continue;  // every thread of the block takes the same branch (m is the block's)
        }
        T t = T(0);
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
            const T e = gn_exp(row[j] - m);
            row[j] = e;
            t += e;
        }
        t = gn_attn_reduce<T, false>(t, sm);
        const T inv = T(1) / t;
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) row[j] *= inv;
    }
}

// Dynamic shared memory: blockDim.x * sizeof(T) bytes.
template <typename T>
__global__ void attn_softmax_backward(const T* p, T* dp, long long rows, long long cols, T mult) {
    T* sm = reinterpret_cast<T*>(gn_smem);
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* pr = p + r * cols;
        T* dr = dp + r * cols;
        T t = T(0);
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) t += pr[j] * dr[j];
        t = gn_attn_reduce<T, false>(t, sm);
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) dr[j] = pr[j] * (dr[j] - t) * mult;
    }
}
