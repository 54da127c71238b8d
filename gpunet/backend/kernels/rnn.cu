// Recurrent gates (RNN / LSTM / GRU): one time step of one layer-direction after its GEMM gh = h_prev @ W_hh^T.
//
// Every kernel is a 1-D grid-stride launch over the N x H units of the step; unit k is row n = k / H, column
// j = k % H. Arrays are row-major and C-contiguous: gx, gh, gates and dgates have rows of G*H (G gates), the
// states rows of H. Gate orders are PyTorch's: LSTM (i, f, g, o), GRU (r, z, n). The formulas are those of the
// reference ops in gpunet/backend/_rnn_ops.py.
//
//   rnn_forward    h = act(gx + gh), act tanh (relu = 0) or ReLU
//   rnn_backward   dpre = (dy + dh_rec) * act'(h)
//   lstm_forward   gates = (s(a_i), s(a_f), tanh(a_g), s(a_o)) of a = gx + gh; c = f c_prev + i g; tc = tanh(c);
//                  h = o tc
//   lstm_backward  dh = dy + dh_rec; dct = dc + dh o (1 - tc^2); dgates = pre-activation gradients; dc <- dct f
//   gru_forward    r, z = s(gx + gh + b_hh); hn = gh_n + b_hn; n = tanh(gx_n + r hn); h = (1 - z) n + z h_prev;
//                  gates = (r, z, n, hn)
//   gru_backward   dh = dy + dh_a + dh_b; dgi = (dr', dz', dn'); dgh = (dr', dz', dn' r); dh_a <- dh z
// Each unit reads and writes only its own elements, so the in-place updates (dc, dh_a) need no barrier.

template <typename T>
__global__ void rnn_forward(const T* gx, const T* gh, T* h, long long units, int relu) {
    for (long long k = gn_thread_index(); k < units; k += gn_grid_stride()) {
        const T v = gx[k] + gh[k];
        h[k] = relu ? (v <= T(0) ? T(0) : v) : gn_tanh(v);
    }
}

template <typename T>
__global__ void rnn_backward(const T* dy, const T* dh_rec, const T* h, T* dpre, long long units, int relu) {
    for (long long k = gn_thread_index(); k < units; k += gn_grid_stride()) {
        const T dh = dy[k] + dh_rec[k];
        const T y = h[k];
        dpre[k] = relu ? (y > T(0) ? dh : T(0)) : dh * (T(1) - y * y);
    }
}

template <typename T>
__global__ void lstm_forward(const T* gx, const T* gh, const T* c_prev, T* gates, T* c, T* tc, T* h,
                             long long units, long long H) {
    for (long long k = gn_thread_index(); k < units; k += gn_grid_stride()) {
        const long long n = k / H, j = k - n * H;
        const long long g0 = n * 4 * H + j;
        const T i = gn_sigmoid(gx[g0] + gh[g0]);
        const T f = gn_sigmoid(gx[g0 + H] + gh[g0 + H]);
        const T g = gn_tanh(gx[g0 + 2 * H] + gh[g0 + 2 * H]);
        const T o = gn_sigmoid(gx[g0 + 3 * H] + gh[g0 + 3 * H]);
        gates[g0] = i;
        gates[g0 + H] = f;
        gates[g0 + 2 * H] = g;
        gates[g0 + 3 * H] = o;
        const T cv = f * c_prev[k] + i * g;
        const T t = gn_tanh(cv);
        c[k] = cv;
        tc[k] = t;
        h[k] = o * t;
    }
}

template <typename T>
__global__ void lstm_backward(const T* dy, const T* dh_rec, T* dc, const T* gates, const T* c_prev,
                              const T* tc, T* dgates, long long units, long long H) {
    for (long long k = gn_thread_index(); k < units; k += gn_grid_stride()) {
        const long long n = k / H, j = k - n * H;
        const long long g0 = n * 4 * H + j;
        const T i = gates[g0], f = gates[g0 + H], g = gates[g0 + 2 * H], o = gates[g0 + 3 * H];
        const T dh = dy[k] + dh_rec[k];
        const T t = tc[k];
        const T dct = dc[k] + dh * o * (T(1) - t * t);
        dgates[g0] = dct * g * i * (T(1) - i);
        dgates[g0 + H] = dct * c_prev[k] * f * (T(1) - f);
        dgates[g0 + 2 * H] = dct * i * (T(1) - g * g);
        dgates[g0 + 3 * H] = dh * t * o * (T(1) - o);
        dc[k] = dct * f;
    }
}

template <typename T>
__global__ void gru_forward(const T* gx, const T* gh, const T* b_hh, const T* h_prev, T* gates, T* h,
                            long long units, long long H) {
    for (long long k = gn_thread_index(); k < units; k += gn_grid_stride()) {
        const long long n = k / H, j = k - n * H;
        const long long a0 = n * 3 * H + j, s0 = n * 4 * H + j;
        const T r = gn_sigmoid(gx[a0] + gh[a0] + b_hh[j]);
        const T z = gn_sigmoid(gx[a0 + H] + gh[a0 + H] + b_hh[j + H]);
        const T hn = gh[a0 + 2 * H] + b_hh[j + 2 * H];
        const T nv = gn_tanh(gx[a0 + 2 * H] + r * hn);
        gates[s0] = r;
        gates[s0 + H] = z;
        gates[s0 + 2 * H] = nv;
        gates[s0 + 3 * H] = hn;
        h[k] = (T(1) - z) * nv + z * h_prev[k];
    }
}

template <typename T>
__global__ void gru_backward(const T* dy, T* dh_a, const T* dh_b, const T* gates, const T* h_prev, T* dgi,
                             T* dgh, long long units, long long H) {
    for (long long k = gn_thread_index(); k < units; k += gn_grid_stride()) {
        const long long n = k / H, j = k - n * H;
        const long long a0 = n * 3 * H + j, s0 = n * 4 * H + j;
        const T r = gates[s0], z = gates[s0 + H], nv = gates[s0 + 2 * H], hn = gates[s0 + 3 * H];
        const T dh = dy[k] + dh_a[k] + dh_b[k];
        const T dn = dh * (T(1) - z) * (T(1) - nv * nv);
        const T dr = dn * hn * r * (T(1) - r);
        const T dz = dh * (h_prev[k] - nv) * z * (T(1) - z);
        dgi[a0] = dr;
        dgi[a0 + H] = dz;
        dgi[a0 + 2 * H] = dn;
        dgh[a0] = dr;
        dgh[a0 + H] = dz;
        dgh[a0 + 2 * H] = dn * r;
        dh_a[k] = dh * z;
    }
}
