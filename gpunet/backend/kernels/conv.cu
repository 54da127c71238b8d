// Convolution columns: im2col and its adjoint col2im (the GEMMs around them are cuBLAS, through CuPy's matmul).
//
// Layouts (gpunet/backend/_conv_ops.py): x is (N, C, H, W) row-major; the columns are (C, kh, kw, N, OH, OW),
//   cols[c, i, j, n, a, b] = x[n, c, a*sh + i*dh - pt, b*sw + j*dw - pl]   (0 outside the input: the padding)
// so cols viewed as (G, C/G*kh*kw, N*OH*OW) is the right operand of one GEMM per group.
//
// conv_im2col: 1-D grid-stride launch over the columns, one thread per entry (a gather; reads of neighbouring
//              threads hit neighbouring x entries along b).
// conv_col2im: 1-D grid-stride launch over dx, one thread per input entry summing every column entry read from
//              it, in a fixed (i, j) order: no atomics, the same bits whatever order the threads run in.

template <typename T>
__global__ void conv_im2col(const T* x, T* cols, long long n_, long long c_, long long h_, long long w_,
                            long long kh, long long kw, long long sh, long long sw, long long pt, long long pl,
                            long long dh, long long dw, long long oh, long long ow) {
    const long long total = c_ * kh * kw * n_ * oh * ow;
    for (long long k = gn_thread_index(); k < total; k += gn_grid_stride()) {
        long long r = k;
        const long long b = r % ow; r /= ow;
        const long long a = r % oh; r /= oh;
        const long long n = r % n_; r /= n_;
        const long long j = r % kw; r /= kw;
        const long long i = r % kh;
        const long long c = r / kh;
        const long long y = a * sh + i * dh - pt;
        const long long z = b * sw + j * dw - pl;
        T v = T(0);
        if (y >= 0 && y < h_ && z >= 0 && z < w_) v = x[((n * c_ + c) * h_ + y) * w_ + z];
        cols[k] = v;
    }
}

template <typename T>
__global__ void conv_col2im(const T* cols, T* dx, long long n_, long long c_, long long h_, long long w_,
                            long long kh, long long kw, long long sh, long long sw, long long pt, long long pl,
                            long long dh, long long dw, long long oh, long long ow) {
    const long long total = n_ * c_ * h_ * w_;
    for (long long k = gn_thread_index(); k < total; k += gn_grid_stride()) {
        long long r = k;
        const long long z = r % w_; r /= w_;
        const long long y = r % h_; r /= h_;
        const long long c = r % c_;
        const long long n = r / c_;
        T acc = T(0);
        for (long long i = 0; i < kh; ++i) {
            const long long ys = y + pt - i * dh;  // = a * sh for the window row a that read x[y]
            if (ys < 0 || ys % sh != 0) continue;
            const long long a = ys / sh;
            if (a >= oh) continue;
            for (long long j = 0; j < kw; ++j) {
                const long long zs = z + pl - j * dw;
                if (zs < 0 || zs % sw != 0) continue;
                const long long b = zs / sw;
                if (b >= ow) continue;
                acc += cols[((((c * kh + i) * kw + j) * n_ + n) * oh + a) * ow + b];
            }
        }
        dx[k] = acc;
    }
}
