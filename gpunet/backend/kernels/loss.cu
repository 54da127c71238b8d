// Mean squared error: the forward's sum of squares and the backward's gradients, each ONE launch.
//
// mse_sum: a column-reduction launch (see _common.cu) over the flat arrays seen as (n x 1): each thread adds
// (x - y)^2 over its rows in T, the block tree-sums them, and the block's total times `scale` (1/n for 'mean',
// 1 for 'sum') goes to out through gn_column_store (atomicAdd into a zeroed out, or one partial per block row
// for the fixed-order second pass of deterministic mode). Dynamic shared memory: blockDim.y * sizeof(T).
template <typename T>
__global__ void mse_sum(const T* x, const T* y, T* out, long long n, T scale, long long ld) {
    T* part = reinterpret_cast<T*>(gn_smem);
    T acc = T(0);
    for (long long i = gn_row0(); i < n; i += gn_row_stride()) {
        const T d = x[i] - y[i];
        acc += d * d;
    }
    part[gn_slot()] = acc;
    gn_tree_sum_y(part);
    if (threadIdx.y == 0 && threadIdx.x == 0) gn_column_store(out, 0LL, part[0] * scale, ld);
}

// mse_backward: 1-D grid-stride launch. dx = (x - y) * c, dy = -dx (each where needed), with c = g[0] * scale
// (g a 0-d upstream gradient; scale 2/n for 'mean', 2 for 'sum') or, for 'none' (g_each != 0), per element
// dx = (x - y) * g[i] * scale (scale 2).
template <typename T>
__global__ void mse_backward(const T* x, const T* y, const T* g, T* dx, T* dy, long long n, T scale, int g_each,
                             int need_x, int need_y) {
    const T c = g_each ? scale : g[0] * scale;
    for (long long i = gn_thread_index(); i < n; i += gn_grid_stride()) {
        T v = x[i] - y[i];
        v = g_each ? v * g[i] * c : v * c;
        if (need_x) dx[i] = v;
        if (need_y) dy[i] = -v;
    }
}
