// Fused linear layer, the parts around the cuBLAS GEMMs.
//
//   forward:  z = x @ W^T (cuBLAS), then bias_act_forward: z += b; y = act(z); keep what backward needs.
//   backward: act_backward_bias_grad: dz = dy * act'(.) and db = sum over rows of dz, in one pass (plus
//             column_sum of reduce.cu over the block rows' partials in deterministic mode);
//             then dX = dz @ W and dW = dz^T @ x (cuBLAS).
//
// GN_ACT_* (activation codes) are #defined by _kernels.py from Backend.FUSED_ACTIVATIONS.
// The formulas mirror gpunet/functional/_act_math.py (the reference).

#define GN_INV_SQRT2 0.70710678118654752440
#define GN_INV_SQRT_2PI 0.39894228040143267794
#define GN_SQRT_2_OVER_PI 0.79788456080286535588
#define GN_GELU_C 0.044715

template <typename T>
__device__ __forceinline__ T gn_act_forward(int act, T z, T alpha) {
    switch (act) {
    case GN_ACT_RELU:
        return z < T(0) ? T(0) : z;  // NaN stays NaN, as torch
    case GN_ACT_LEAKY_RELU:
        return z > T(0) ? z : z * alpha;
    case GN_ACT_SIGMOID:
        return gn_sigmoid(z);
    case GN_ACT_TANH:
        return gn_tanh(z);
    case GN_ACT_GELU:
        return z * (T(0.5) * (T(1) + gn_erf(z * T(GN_INV_SQRT2))));
    case GN_ACT_GELU_TANH: {
        T inner = T(GN_SQRT_2_OVER_PI) * (z + T(GN_GELU_C) * (z * z * z));
        return T(0.5) * z * (T(1) + gn_tanh(inner));
    }
    case GN_ACT_SILU:
        return z * gn_sigmoid(z);
    default:  // identity
        return z;
    }
}

// dL/dz from dL/dy and what forward kept: the mask m (relu, leaky_relu), the output s = y (sigmoid, tanh) or
// the pre-activation s = z (gelu, gelu_tanh, silu).
template <typename T>
__device__ __forceinline__ T gn_act_backward(int act, T g, T s, bool m, T alpha) {
    switch (act) {
    case GN_ACT_RELU:
        return g * T(m);
    case GN_ACT_LEAKY_RELU:
        return m ? g : g * alpha;
    case GN_ACT_SIGMOID:
        return g * s * (T(1) - s);
    case GN_ACT_TANH:
        return g * (T(1) - s * s);
    case GN_ACT_GELU: {
        T cdf = T(0.5) * (T(1) + gn_erf(s * T(GN_INV_SQRT2)));
        T pdf = gn_exp(T(-0.5) * s * s) * T(GN_INV_SQRT_2PI);
        return g * (cdf + s * pdf);
    }
    case GN_ACT_GELU_TANH: {
        T inner = T(GN_SQRT_2_OVER_PI) * (s + T(GN_GELU_C) * (s * s * s));
        T t = gn_tanh(inner);
        T dinner = T(GN_SQRT_2_OVER_PI) * (T(1) + T(3.0 * GN_GELU_C) * s * s);
        return g * (T(0.5) * (T(1) + t) + T(0.5) * s * (T(1) - t * t) * dinner);
    }
    case GN_ACT_SILU: {
        T sg = gn_sigmoid(s);
        return g * sg * (T(1) + s * (T(1) - sg));
    }
    default:  // identity
        return g;
    }
}

// One pass over the (rows x cols) GEMM output z, 1-D grid-stride launch over n = rows * cols elements:
//   v = z[i] + bias[i % cols]     (has_bias)
//   z[i] = v                      (store_z: gelu, gelu_tanh, silu keep the pre-activation)
//   mask[i] = v > 0               (relu, leaky_relu)
//   y[i] = act(v)                 (y may be z itself: in place)
// bias / mask are not read / written when their flag or activation does not need them (any pointer is fine).
template <typename T>
__global__ void bias_act_forward(T* z, const T* bias, T* y, bool* mask, long long n, long long cols,
                                 int has_bias, int store_z, int act, T alpha) {
    const bool want_mask = (act == GN_ACT_RELU || act == GN_ACT_LEAKY_RELU);
    for (long long i = gn_thread_index(); i < n; i += gn_grid_stride()) {
        T v = z[i];
        if (has_bias) v += bias[i % cols];
        if (store_z) z[i] = v;
        if (want_mask) mask[i] = v > T(0);
        y[i] = gn_act_forward(act, v, alpha);
    }
}

// Activation derivative and bias gradient in one pass over dy (rows x cols, row-major), with the column launch
// of _common.cu. Each thread sums its column's dz over its rows in a register; the by partial sums of a column
// are added in shared memory (bx*by*sizeof(T) bytes of dynamic shared memory) and the block's total per column
// goes into db by gn_column_store: atomicAdd into the zeroed db (ld == 0), or stored as this block row's partial
// db[blockIdx.y * ld + c] (ld > 0; the total when the grid has one row of blocks). dz is written only when
// write_dz (identity needs no copy of dy), db only when want_db; both flags are uniform over the grid, so every
// thread reaches __syncthreads(). dz may be dy itself (in place): each element is read before it is written, by
// the same thread.
template <typename T>
__global__ void act_backward_bias_grad(const T* dy, const T* saved, const bool* mask, T* dz, T* db,
                                       long long rows, long long cols, int act, T alpha, int write_dz,
                                       int want_db, long long ld) {
    T* part = reinterpret_cast<T*>(gn_smem);
    const long long c = gn_column();
    const bool want_mask = (act == GN_ACT_RELU || act == GN_ACT_LEAKY_RELU);
    const bool want_saved = !want_mask && act != GN_ACT_IDENTITY;
    T acc = T(0);
    if (c < cols) {
        for (long long r = gn_row0(); r < rows; r += gn_row_stride()) {
            const long long i = r * cols + c;
            const bool m = want_mask ? mask[i] : false;
            const T s = want_saved ? saved[i] : T(0);
            const T d = gn_act_backward(act, dy[i], s, m, alpha);
            if (write_dz) dz[i] = d;
            acc += d;
        }
    }
    if (want_db) {
        part[gn_slot()] = acc;
        gn_tree_sum_y(part);
        if (threadIdx.y == 0 && c < cols) gn_column_store(db, c, part[threadIdx.x], ld);
    }
}
