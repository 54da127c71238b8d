// Max and average pooling over a stack of B planes (B x H x W, row-major), as PyTorch's CPU/GPU kernels.
//
//   max_pool_forward:    one thread per output (grid-stride): the max of the window clipped to the plane (the
//                        first in-bounds element starts it; a larger value or a NaN replaces it) and its flat
//                        index h * W + w in the plane (int64).
//   max_pool_backward:   one thread per INPUT element: it gathers g of every window it can belong to (at most
//                        ceil(kh/sh) * ceil(kw/sw) of them) whose argmax is this element. No atomics, so the sum
//                        is in a fixed order (deterministic) and overlapping windows need no second pass.
//   avg_pool_forward:    one thread per output: window sum / divisor (PyTorch's count_include_pad rule, or
//                        divisor_override when > 0).
//   avg_pool_backward:   one thread per input element: the sum of g / divisor over the windows that cover it.
//   index_scatter_add:   gx[b, idx[b, k]] += g[b, k] with atomicAdd (adaptive max pooling's backward, whose
//                        windows have no fixed stride; gx zeroed by the host).
// Geometry: kernel kh x kw, stride sh x sw, padding ph x pw, dilation dh x dw (avg: 1), output oh x ow.

// First and last output index along one axis whose window (start o*s - p, taps at start + a*d) may cover input
// position x: o in [lo, hi].
__device__ __forceinline__ void gn_pool_range(long long x, int k, int s, int p, int d, long long o_max,
                                              long long* lo, long long* hi) {
    long long top = x + p;                    // o*s <= x + p
    long long bottom = x + p - (long long)(k - 1) * d;  // o*s >= x + p - (k - 1)*d
    long long l = bottom <= 0 ? 0 : (bottom + s - 1) / s;
    long long h = top / s;
    *lo = l;
    *hi = h < o_max - 1 ? h : o_max - 1;
}

// Divisor of window (i, j) along one axis, PyTorch's rule (size: input length; k, s, p along that axis).
__device__ __forceinline__ long long gn_pool_extent(long long i, int k, int s, int p, long long size,
                                                    int count_include_pad) {
    long long start = i * s - p;
    long long end = start + k < size + p ? start + k : size + p;
    if (count_include_pad) return end - start;
    long long a = start < 0 ? 0 : start;
    long long b = end < size ? end : size;
    return b - a;
}

template <typename T>
__global__ void max_pool_forward(const T* x, T* y, long long* idx, long long B, long long H, long long W,
                                   long long oh, long long ow, int kh, int kw, int sh, int sw, int ph, int pw,
                                   int dh, int dw) {
    const long long n = B * oh * ow;
    for (long long t = gn_thread_index(); t < n; t += gn_grid_stride()) {
        const long long j = t % ow;
        const long long i = (t / ow) % oh;
        const long long b = t / (ow * oh);
        const T* xb = x + b * H * W;
        const long long h0 = i * sh - ph, w0 = j * sw - pw;
        T best = T(0);
        long long bi = -1;
        for (int a = 0; a < kh; ++a) {
            const long long h = h0 + (long long)a * dh;
            if (h < 0 || h >= H) continue;
            for (int c = 0; c < kw; ++c) {
                const long long w = w0 + (long long)c * dw;
                if (w < 0 || w >= W) continue;
                const T v = xb[h * W + w];
                if (bi < 0 || v > best || v != v) {
                    best = v;
                    bi = h * W + w;
                }
            }
        }
        y[t] = best;
        idx[t] = bi;
    }
}

template <typename T>
__global__ void max_pool_backward(const T* g, const long long* idx, T* gx, long long B, long long H, long long W,
                                    long long oh, long long ow, int kh, int kw, int sh, int sw, int ph, int pw,
                                    int dh, int dw) {
    const long long n = B * H * W;
    for (long long t = gn_thread_index(); t < n; t += gn_grid_stride()) {
        const long long w = t % W;
        const long long h = (t / W) % H;
        const long long b = t / (W * H);
        const long long me = h * W + w;
        long long i0, i1, j0, j1;
        gn_pool_range(h, kh, sh, ph, dh, oh, &i0, &i1);
        gn_pool_range(w, kw, sw, pw, dw, ow, &j0, &j1);
        const long long base = b * oh * ow;
        T acc = T(0);
        for (long long i = i0; i <= i1; ++i) {
            for (long long j = j0; j <= j1; ++j) {
                const long long o = base + i * ow + j;
                if (idx[o] == me) acc += g[o];
            }
        }
        gx[t] = acc;
    }
}

template <typename T>
__global__ void avg_pool_forward(const T* x, T* y, long long B, long long H, long long W, long long oh,
                                   long long ow, int kh, int kw, int sh, int sw, int ph, int pw,
                                   int count_include_pad, long long divisor_override) {
    const long long n = B * oh * ow;
    for (long long t = gn_thread_index(); t < n; t += gn_grid_stride()) {
        const long long j = t % ow;
        const long long i = (t / ow) % oh;
        const long long b = t / (ow * oh);
        const T* xb = x + b * H * W;
        long long ha = i * sh - ph, wa = j * sw - pw;
        long long hb = ha + kh < H ? ha + kh : H, wb = wa + kw < W ? wa + kw : W;
        if (ha < 0) ha = 0;
        if (wa < 0) wa = 0;
        T s = T(0);
        for (long long h = ha; h < hb; ++h)
            for (long long w = wa; w < wb; ++w) s += xb[h * W + w];
        const long long div = divisor_override > 0 ? divisor_override
            : gn_pool_extent(i, kh, sh, ph, H, count_include_pad) * gn_pool_extent(j, kw, sw, pw, W, count_include_pad);
        y[t] = s / T(div);
    }
}

template <typename T>
__global__ void avg_pool_backward(const T* g, T* gx, long long B, long long H, long long W, long long oh,
                                    long long ow, int kh, int kw, int sh, int sw, int ph, int pw,
                                    int count_include_pad, long long divisor_override) {
    const long long n = B * H * W;
    for (long long t = gn_thread_index(); t < n; t += gn_grid_stride()) {
        const long long w = t % W;
        const long long h = (t / W) % H;
        const long long b = t / (W * H);
        long long i0, i1, j0, j1;
        gn_pool_range(h, kh, sh, ph, 1, oh, &i0, &i1);
        gn_pool_range(w, kw, sw, pw, 1, ow, &j0, &j1);
        const T* gb = g + b * oh * ow;
        T acc = T(0);
        for (long long i = i0; i <= i1; ++i) {
            const long long di = divisor_override > 0 ? 1 : gn_pool_extent(i, kh, sh, ph, H, count_include_pad);
            for (long long j = j0; j <= j1; ++j) {
                const long long dj = divisor_override > 0 ? divisor_override
                    : gn_pool_extent(j, kw, sw, pw, W, count_include_pad);
                acc += gb[i * ow + j] / T(di * dj);
            }
        }
        gx[t] = acc;
    }
}

template <typename T>
__global__ void index_scatter_add(const T* g, const long long* idx, T* gx, long long B, long long per_in,
                                  long long per_out) {
    const long long n = B * per_out;
    for (long long t = gn_thread_index(); t < n; t += gn_grid_stride()) {
        const long long b = t / per_out;
        gn_atomic_add(gx + b * per_in + idx[t], g[t]);
    }
}
