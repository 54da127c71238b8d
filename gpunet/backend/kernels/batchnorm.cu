// Batch normalisation over axis 0 of a row-major (rows x cols) array, per feature (column).
//
//   training forward: bn_stats (one pass over x: Welford per thread on x - shift, Chan merge over the block)
//                     -> bn_finalize (only when the stats launch had more than one row of blocks: Chan merge of
//                        the per-block partials) -> mean, invstd, running statistics updated in place
//                     -> bn_normalize (one pass: x_hat = (x - mean) * invstd, y = x_hat * gamma + beta)
//   eval forward:     bn_invstd (cols threads) -> bn_normalize with the running mean
//   backward:         bn_backward_reduce (one pass: sum(dy), sum(dy * x_hat) per column, atomicAdd into zeroed
//                     outputs, or per-block-row partials summed by column_sum of reduce.cu in deterministic
//                     mode; skipped in eval when no affine gradient is wanted) -> bn_backward_dx (one pass).
// Statistics are accumulated in T: Welford in float for float32 and in double for float64. Every column is shifted
// by its first element (shift = x[0, c], the same in every block) before accumulating, so the moments are of
// values of the size of the spread, not of the mean: a column of 1e4 + N(0, 1) in float32 keeps its variance to
// about 1e-6 (plain Welford in float loses about 1e-3 there, E[x^2] - E[x]^2 everything).

// Mean, 1/sqrt(biased var + eps) and the in-place running-statistics update of one column from the moments a
// of x[:, c] - shift. unbias = n / (n - 1) from the host (as the reference: running_var uses the unbiased
// variance).
template <typename T>
__device__ __forceinline__ void gn_bn_finalize_one(long long c, const GnMoments<T>& a, T shift, T* mean,
                                                   T* invstd, T* run_mean, T* run_var, int has_running,
                                                   T momentum, T eps, T unbias) {
    T var = a.m2 / T(a.n);
    if (var < T(0)) var = T(0);
    const T mu = shift + a.mean;
    mean[c] = mu;
    invstd[c] = T(1) / gn_sqrt(var + eps);
    if (has_running) {
        run_mean[c] = run_mean[c] * (T(1) - momentum) + momentum * mu;
        run_var[c] = run_var[c] * (T(1) - momentum) + momentum * (var * unbias);
    }
}

// Column launch (see _common.cu) over x. Dynamic shared memory: bx*by*(8 + 2*sizeof(T)) bytes.
// gridDim.y == 1: the block holds whole columns and finalizes them itself (ws_* unused).
// gridDim.y > 1:  block row Y writes its partial moments to ws_*[Y * cols + c]; bn_finalize merges them.
template <typename T>
__global__ void bn_stats(const T* x, long long rows, long long cols, long long* ws_n, T* ws_mean, T* ws_m2,
                         T* mean, T* invstd, T* run_mean, T* run_var, int has_running, T momentum, T eps,
                         T unbias) {
    const unsigned int nt = blockDim.x * blockDim.y;
    long long* s_n = reinterpret_cast<long long*>(gn_smem);
    T* s_mean = reinterpret_cast<T*>(s_n + nt);
    T* s_m2 = s_mean + nt;
    const long long c = gn_column();
    const T shift = c < cols ? x[c] : T(0);
    GnMoments<T> a = {0, T(0), T(0)};
    if (c < cols) {
        for (long long r = gn_row0(); r < rows; r += gn_row_stride()) gn_welford_add(a, x[r * cols + c] - shift);
    }
    const unsigned int k = gn_slot();
    s_n[k] = a.n;
    s_mean[k] = a.mean;
    s_m2[k] = a.m2;
    __syncthreads();
    for (unsigned int s = blockDim.y / 2; s > 0; s >>= 1) {
        if (threadIdx.y < s) {
            const unsigned int o = k + s * blockDim.x;
            GnMoments<T> b = {s_n[k], s_mean[k], s_m2[k]};
            gn_chan_merge(b, s_n[o], s_mean[o], s_m2[o]);
            s_n[k] = b.n;
            s_mean[k] = b.mean;
            s_m2[k] = b.m2;
        }
        __syncthreads();
    }
    if (threadIdx.y != 0 || c >= cols) return;
    GnMoments<T> total = {s_n[threadIdx.x], s_mean[threadIdx.x], s_m2[threadIdx.x]};
    if (gridDim.y == 1) {
        gn_bn_finalize_one(c, total, shift, mean, invstd, run_mean, run_var, has_running, momentum, eps, unbias);
    } else {
        const long long w = (long long)blockIdx.y * cols + c;
        ws_n[w] = total.n;
        ws_mean[w] = total.mean;
        ws_m2[w] = total.m2;
    }
}

// Merges the `parts` partial moments of each column (1-D grid-stride launch over cols) and finalizes it
// (x is read only for the shift x[0, c]).
template <typename T>
__global__ void bn_finalize(const T* x, const long long* ws_n, const T* ws_mean, const T* ws_m2, long long parts,
                            long long cols, T* mean, T* invstd, T* run_mean, T* run_var, int has_running,
                            T momentum, T eps, T unbias) {
    for (long long c = gn_thread_index(); c < cols; c += gn_grid_stride()) {
        GnMoments<T> a = {0, T(0), T(0)};
        for (long long p = 0; p < parts; ++p) {
            const long long w = p * cols + c;
            gn_chan_merge(a, ws_n[w], ws_mean[w], ws_m2[w]);
        }
        gn_bn_finalize_one(c, a, x[c], mean, invstd, run_mean, run_var, has_running, momentum, eps, unbias);
    }
}

// Evaluation mode: invstd = 1 / sqrt(running_var + eps) (1-D launch over cols).
template <typename T>
__global__ void bn_invstd(const T* var, T* invstd, long long cols, T eps) {
    for (long long c = gn_thread_index(); c < cols; c += gn_grid_stride()) {
        invstd[c] = T(1) / gn_sqrt(var[c] + eps);
    }
}

// 1-D launch over n = rows * cols: x_hat = (x - mean) * invstd; with affine, xhat[i] = x_hat and
// y[i] = x_hat * gamma + beta, otherwise y[i] = x_hat (xhat is not written).
template <typename T>
__global__ void bn_normalize(const T* x, const T* mean, const T* invstd, const T* gamma, const T* beta, T* xhat,
                             T* y, long long n, long long cols, int affine) {
    for (long long i = gn_thread_index(); i < n; i += gn_grid_stride()) {
        const long long c = i % cols;
        const T h = (x[i] - mean[c]) * invstd[c];
        if (affine) {
            xhat[i] = h;
            y[i] = h * gamma[c] + beta[c];
        } else {
            y[i] = h;
        }
    }
}

// Column launch over dy and x_hat: sum(dy) and sum(dy * x_hat) over this block's rows, into dbeta and dgamma by
// gn_column_store (ld == 0: atomicAdd, the host zeroed both; ld > 0: this block row's partials at
// [blockIdx.y * ld + c]). Dynamic shared memory: 2 * bx * by * sizeof(T) bytes.
template <typename T>
__global__ void bn_backward_reduce(const T* dy, const T* xhat, T* dbeta, T* dgamma, long long rows,
                                   long long cols, long long ld) {
    const unsigned int nt = blockDim.x * blockDim.y;
    T* s_b = reinterpret_cast<T*>(gn_smem);
    T* s_g = s_b + nt;
    const long long c = gn_column();
    T sb = T(0), sg = T(0);
    if (c < cols) {
        for (long long r = gn_row0(); r < rows; r += gn_row_stride()) {
            const long long i = r * cols + c;
            const T g = dy[i];
            sb += g;
            sg += g * xhat[i];
        }
    }
    s_b[gn_slot()] = sb;
    s_g[gn_slot()] = sg;
    gn_tree_sum_y(s_b);  // its __syncthreads() also publish s_g
    gn_tree_sum_y(s_g);
    if (threadIdx.y == 0 && c < cols) {
        gn_column_store(dbeta, c, s_b[threadIdx.x], ld);
        gn_column_store(dgamma, c, s_g[threadIdx.x], ld);
    }
}

// 1-D launch over n = rows * cols. With g = invstd * gamma (invstd without affine):
//   training: dx = (g / m) * (m * dy - dbeta - x_hat * dgamma)   (m = rows, the batch size)
//   eval:     dx = dy * g
template <typename T>
__global__ void bn_backward_dx(const T* dy, const T* xhat, const T* invstd, const T* gamma, const T* dbeta,
                               const T* dgamma, T* dx, long long n, long long cols, int has_gamma, int training,
                               T m) {
    for (long long i = gn_thread_index(); i < n; i += gn_grid_stride()) {
        const long long c = i % cols;
        const T g = has_gamma ? invstd[c] * gamma[c] : invstd[c];
        if (training) {
            dx[i] = (g / m) * (m * dy[i] - dbeta[c] - xhat[i] * dgamma[c]);
        } else {
            dx[i] = dy[i] * g;
        }
    }
}
