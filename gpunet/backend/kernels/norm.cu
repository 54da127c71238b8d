// Row normalisation (layer / RMS / group norm) of a row-major (rows x d) array, and the embedding gather and
// scatter-add.
//
//   forward:  ln_forward          one block per row (grid-stride over rows): shifted sums per thread, a shared-
//                                 memory tree over the block, then normalise + affine in the same block
//   backward: ln_backward_dx      one block per row: sum(g*w) and sum(g*w*x_hat) by the same tree, then dx
//             ln_backward_affine  layer norm's dw, db: column launch (see _common.cu) over g and x
//             gn_backward_affine  group norm's dw, db: one block per channel, a tree over its samples and positions
//   embedding_forward             1-D launch over n*d outputs: out[i, j] = weight[idx[i], j]
//   embedding_backward            1-D launch over n*d gradient values: atomicAdd into dw[idx[i], j]
//
// The affine parameters of a row's element j: layer norm (s == 1, groups == 1) uses w[j]; group norm (a row is one
// (sample, group) of (N, C, S) input: d = (C/G) * s) uses the channel's w[(row % groups) * (C/G) + j / s].
// Row statistics: every thread sums x - shift and (x - shift)^2 over its strided share of the row (shift = the
// row's first value, the same in every thread), so the sums are of values of the size of the spread, not of the
// mean; the tree adds the per-thread sums in a fixed order. No warp intrinsics: the tree is shared memory +
// __syncthreads, so blockDim.x must be a power of two.

// Tree sum over threadIdx.x of two per-thread values; afterwards every thread reads the block totals from
// slots 0 of a and b. Dynamic shared memory: 2 * blockDim.x * sizeof(T) bytes. Every thread must call it.
template <typename T>
__device__ __forceinline__ void gn_row_tree2(T va, T vb, T* a, T* b, T& ta, T& tb) {
    const unsigned int k = threadIdx.x;
    a[k] = va;
    b[k] = vb;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (k < s) {
            a[k] += a[k + s];
            b[k] += b[k + s];
        }
        __syncthreads();
    }
    ta = a[0];
    tb = b[0];
    __syncthreads();  // slots are free again for the next row
}

// Index of the affine parameter of element j of row r (see the file comment).
__device__ __forceinline__ long long gn_affine_index(long long r, long long j, long long d, long long s,
                                                     long long groups) {
    if (s == 1 && groups == 1) return j;
    return (r % groups) * (d / s) + j / s;
}

// y = (x - mean) * rstd * w + b per row (rms: mean = 0, rstd = 1 / sqrt(mean(x^2) + eps), mean not written).
template <typename T>
__global__ void ln_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, long long rows,
                           long long d, long long s, long long groups, T eps, int has_w, int has_b, int rms) {
    T* sa = reinterpret_cast<T*>(gn_smem);
    T* sb = sa + blockDim.x;
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * d;
        const T shift = rms ? T(0) : xr[0];
        T a1 = T(0), a2 = T(0);
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            const T v = xr[j] - shift;
            a1 += v;
            a2 += v * v;
        }
        T s1, s2;
        gn_row_tree2(a1, a2, sa, sb, s1, s2);
        const T m = s1 / T(d);
        T var = rms ? s2 / T(d) : s2 / T(d) - m * m;
        if (var < T(0)) var = T(0);
        const T mu = rms ? T(0) : shift + m;
        const T rs = T(1) / gn_sqrt(var + eps);
        if (threadIdx.x == 0) {
            if (!rms) mean[r] = mu;
            rstd[r] = rs;
        }
        T* yr = y + r * d;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            T v = (xr[j] - mu) * rs;
            if (has_w || has_b) {
                const long long c = gn_affine_index(r, j, d, s, groups);
                if (has_w) v *= w[c];
                if (has_b) v += b[c];
            }
            yr[j] = v;
        }
    }
}

// dx = rstd * (g*w - sum(g*w)/d - x_hat * sum(g*w*x_hat)/d) per row (rms: without the sum(g*w) term).
template <typename T>
__global__ void ln_backward_dx(const T* g, const T* x, const T* mean, const T* rstd, const T* w, T* dx,
                               long long rows, long long d, long long s, long long groups, int has_w, int rms) {
    T* sa = reinterpret_cast<T*>(gn_smem);
    T* sb = sa + blockDim.x;
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* gr = g + r * d;
        const T* xr = x + r * d;
        const T mu = rms ? T(0) : mean[r];
        const T rs = rstd[r];
        T a = T(0), bb = T(0);
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            const T gw = has_w ? gr[j] * w[gn_affine_index(r, j, d, s, groups)] : gr[j];
            a += gw;
            bb += gw * ((xr[j] - mu) * rs);
        }
        T ta, tb;
        gn_row_tree2(a, bb, sa, sb, ta, tb);
        const T ca = rms ? T(0) : ta / T(d);
        const T cb = tb / T(d);
        T* dr = dx + r * d;
        for (long long j = threadIdx.x; j < d; j += blockDim.x) {
            const T gw = has_w ? gr[j] * w[gn_affine_index(r, j, d, s, groups)] : gr[j];
            dr[j] = rs * (gw - ca - (xr[j] - mu) * rs * cb);
        }
    }
}

// Layer norm's dw = sum over rows of g * x_hat and db = sum of g, per column: column launch over (rows x d), the
// block's totals stored by gn_column_store (ld == 0: atomicAdd into zeroed outputs; ld > 0: this block row's
// partials at [blockIdx.y * ld + c]). Dynamic shared memory: 2 * bx * by * sizeof(T) bytes.
template <typename T>
__global__ void ln_backward_affine(const T* g, const T* x, const T* mean, const T* rstd, T* dw, T* db,
                                   long long rows, long long d, long long ld, int rms) {
    const unsigned int nt = blockDim.x * blockDim.y;
    T* s_w = reinterpret_cast<T*>(gn_smem);
    T* s_b = s_w + nt;
    const long long c = gn_column();
    T aw = T(0), ab = T(0);
    if (c < d) {
        for (long long r = gn_row0(); r < rows; r += gn_row_stride()) {
            const long long i = r * d + c;
            const T gv = g[i];
            ab += gv;
            aw += gv * ((x[i] - (rms ? T(0) : mean[r])) * rstd[r]);
        }
    }
    s_w[gn_slot()] = aw;
    s_b[gn_slot()] = ab;
    gn_tree_sum_y(s_w);
    gn_tree_sum_y(s_b);
    if (threadIdx.y == 0 && c < d) {
        gn_column_store(dw, c, s_w[threadIdx.x], ld);
        gn_column_store(db, c, s_b[threadIdx.x], ld);
    }
}

// Group norm's dw[c] = sum of g * x_hat and db[c] = sum of g over the n samples and s positions of channel c of
// (n, channels, s) arrays: one block per channel (grid-stride), a tree over the block. Dynamic shared memory:
// 2 * blockDim.x * sizeof(T) bytes.
template <typename T>
__global__ void gn_backward_affine(const T* g, const T* x, const T* mean, const T* rstd, T* dw, T* db,
                                   long long n, long long channels, long long s, long long groups) {
    T* sa = reinterpret_cast<T*>(gn_smem);
    T* sb = sa + blockDim.x;
    const long long cg = channels / groups;
    const long long per = n * s;
    for (long long c = blockIdx.x; c < channels; c += gridDim.x) {
        T aw = T(0), ab = T(0);
        for (long long e = threadIdx.x; e < per; e += blockDim.x) {
            const long long smp = e / s;
            const long long i = (smp * channels + c) * s + e % s;
            const long long row = smp * groups + c / cg;
            const T gv = g[i];
            ab += gv;
            aw += gv * ((x[i] - mean[row]) * rstd[row]);
        }
        T tw, tb;
        gn_row_tree2(aw, ab, sa, sb, tw, tb);
        if (threadIdx.x == 0) {
            dw[c] = tw;
            db[c] = tb;
        }
    }
}

// out[i, j] = weight[idx[i], j] for i < n, j < d. An index outside [0, v) (reported by the deferred check
// launched with it) reads the nearest valid row instead of memory outside the weight.
template <typename T>
__global__ void embedding_forward(const T* weight, const long long* idx, T* out, long long n, long long d,
                                  long long v) {
    const long long total = n * d;
    for (long long e = gn_thread_index(); e < total; e += gn_grid_stride()) {
        long long r = idx[e / d];
        r = r < 0 ? 0 : (r >= v ? v - 1 : r);
        out[e] = weight[r * d + e % d];
    }
}

// dw[idx[i], j] += g[i, j] (atomicAdd: repeated indices sum; dw zeroed by the host); row padding_idx (-1: none)
// and indices outside [0, v) get nothing.
template <typename T>
__global__ void embedding_backward(const T* g, const long long* idx, T* dw, long long n, long long d, long long v,
                                   long long padding_idx) {
    const long long total = n * d;
    for (long long e = gn_thread_index(); e < total; e += gn_grid_stride()) {
        const long long r = idx[e / d];
        if (r < 0 || r >= v || r == padding_idx) continue;
        gn_atomic_add(dw + r * d + e % d, g[e]);
    }
}

// Deterministic variant (gpunet.use_deterministic_algorithms): sorted = idx[order] ascending (a stable sort, so
// each row's tokens keep their order). The first token of each run of equal indices sums the gradient rows of the
// run in that order and stores dw[row, j] (a plain store: no atomics, the same bits on every run). 1-D launch over
// n*d; dw zeroed by the host (rows no token names, and padding_idx, stay zero).
template <typename T>
__global__ void embedding_backward_sorted(const T* g, const long long* sorted, const long long* order, T* dw,
                                          long long n, long long d, long long v, long long padding_idx) {
    const long long total = n * d;
    for (long long e = gn_thread_index(); e < total; e += gn_grid_stride()) {
        const long long i = e / d;
        const long long j = e % d;
        const long long r = sorted[i];
        if ((i > 0 && sorted[i - 1] == r) || r < 0 || r >= v || r == padding_idx) continue;
        T acc = T(0);
        for (long long k = i; k < n && sorted[k] == r; ++k) acc += g[order[k] * d + j];
        dw[r * d + j] = acc;
    }
}
