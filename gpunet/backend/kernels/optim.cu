// Optimizer updates: ONE elementwise kernel per parameter and step, 1-D grid-stride launch over its n elements.
//
// Each kernel is the fused form of the reference in gpunet/optim/_functional.py (PyTorch's single-tensor rules)
// and keeps its order of operations. Hyper-parameter expressions (1 - beta, bias corrections, -lr ...) are
// computed on the host in double and passed as T. Flags are ints (0/1); state pointers whose flag is off are
// never touched (the host passes any array there). grad is never written. The last argument points to a device
// int: when it is non-zero the kernel returns at once (fit skips the step of a non-finite loss with no sync).

// max that propagates NaN from either side (as NumPy's maximum).
template <typename T>
__device__ __forceinline__ T gn_maximum(T a, T b) {
    if (a != a || b != b) return a + b;
    return a > b ? a : b;
}

// g = (maximize ? -grad : grad) + weight_decay * p   (the decay term only when l2)
template <typename T>
__device__ __forceinline__ T gn_effective_grad(T grad, T p, int maximize, int l2, T weight_decay) {
    T g = maximize ? -grad : grad;
    return l2 ? p * weight_decay + g : g;
}

// a + w * (b - a), evaluated as torch.lerp: from a when |w| < 0.5 (lerp_low), else b - (b - a) * (1 - w).
template <typename T>
__device__ __forceinline__ T gn_lerp(T a, T b, T w, T one_minus_w, int lerp_low) {
    const T d = b - a;
    return lerp_low ? a + d * w : b - d * one_minus_w;
}

// SGD: b <- g (init_buffer) or b <- momentum * b + (1 - dampening) * g  (just + g when dampening_zero);
//      g <- b * momentum + g (nesterov) or g <- b;  p <- p - lr * g.
template <typename T>
__global__ void sgd_update(T* param, const T* grad, T* momentum_buffer, long long n, T lr, T momentum,
                           T one_minus_dampening, T weight_decay, int l2, int maximize, int has_momentum,
                           int init_buffer, int dampening_zero, int nesterov,
                           const int* skip) {
    if (*skip) return;  // the update is skipped on the device (a non-finite loss in fit): nothing is written
    for (long long i = gn_thread_index(); i < n; i += gn_grid_stride()) {
        const T p = param[i];
        T g = gn_effective_grad(grad[i], p, maximize, l2, weight_decay);
        if (has_momentum) {
            T b;
            if (init_buffer) {
                b = g;
            } else {
                b = momentum_buffer[i] * momentum;
                b = dampening_zero ? b + g : b + one_minus_dampening * g;
            }
            momentum_buffer[i] = b;
            g = nesterov ? b * momentum + g : b;
        }
        param[i] = p - lr * g;
    }
}

// Adam / AdamW: p <- p * decay_factor (decoupled);  m <- lerp(m, g, 1 - beta1);
//   v <- v * beta2 + (g * (1 - beta2)) * g;
//   amsgrad: vmax <- max(vmax, v), used for v;  p <- p + (m / (sqrt(v) / bc2_sqrt + eps)) * neg_step_size
// with bc2_sqrt = sqrt(1 - beta2^t), neg_step_size = -lr / (1 - beta1^t).
template <typename T>
__global__ void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, long long n,
                            int decoupled, T decay_factor, int l2, T weight_decay, int maximize, T w1,
                            T one_minus_w1, int lerp_low, T beta2, T one_minus_beta2, int amsgrad, T bc2_sqrt,
                            T eps, T neg_step_size,
                            const int* skip) {
    if (*skip) return;  // the update is skipped on the device (a non-finite loss in fit): nothing is written
    for (long long i = gn_thread_index(); i < n; i += gn_grid_stride()) {
        T p = param[i];
        if (decoupled) p = p * decay_factor;
        const T g = gn_effective_grad(grad[i], p, maximize, l2, weight_decay);
        const T m = gn_lerp(exp_avg[i], g, w1, one_minus_w1, lerp_low);
        exp_avg[i] = m;
        T v = exp_avg_sq[i] * beta2 + (g * one_minus_beta2) * g;
        exp_avg_sq[i] = v;
        if (amsgrad) {
            v = gn_maximum(max_exp_avg_sq[i], v);
            max_exp_avg_sq[i] = v;
        }
        const T denom = gn_sqrt(v) / bc2_sqrt + eps;
        param[i] = p + (m / denom) * neg_step_size;
    }
}

// Adagrad: s <- s + g * g;  p <- p + (g / (sqrt(s) + eps)) * neg_clr,  neg_clr = -lr / (1 + (t - 1) * lr_decay).
template <typename T>
__global__ void adagrad_update(T* param, const T* grad, T* state_sum, long long n, int l2, T weight_decay,
                               int maximize, T eps, T neg_clr,
                               const int* skip) {
    if (*skip) return;  // the update is skipped on the device (a non-finite loss in fit): nothing is written
    for (long long i = gn_thread_index(); i < n; i += gn_grid_stride()) {
        const T p = param[i];
        const T g = gn_effective_grad(grad[i], p, maximize, l2, weight_decay);
        const T s = state_sum[i] + g * g;
        state_sum[i] = s;
        param[i] = p + (g / (gn_sqrt(s) + eps)) * neg_clr;
    }
}

// RMSprop: v <- v * alpha + (g * (1 - alpha)) * g;
//   centered: ga <- lerp(ga, g, 1 - alpha), d = sqrt(v - ga * ga) + eps;  else d = sqrt(v) + eps;
//   momentum: b <- b * momentum + g / d, p <- p + b * neg_lr;  else p <- p + (g / d) * neg_lr.
template <typename T>
__global__ void rmsprop_update(T* param, const T* grad, T* square_avg, T* grad_avg, T* momentum_buffer,
                               long long n, int l2, T weight_decay, int maximize, T alpha, T one_minus_alpha,
                               int centered, T w, T one_minus_w, int lerp_low, T eps, int has_momentum,
                               T momentum, T neg_lr,
                               const int* skip) {
    if (*skip) return;  // the update is skipped on the device (a non-finite loss in fit): nothing is written
    for (long long i = gn_thread_index(); i < n; i += gn_grid_stride()) {
        const T p = param[i];
        const T g = gn_effective_grad(grad[i], p, maximize, l2, weight_decay);
        const T v = square_avg[i] * alpha + (g * one_minus_alpha) * g;
        square_avg[i] = v;
        T d;
        if (centered) {
            const T ga = gn_lerp(grad_avg[i], g, w, one_minus_w, lerp_low);
            grad_avg[i] = ga;
            d = gn_sqrt(v - ga * ga) + eps;
        } else {
            d = gn_sqrt(v) + eps;
        }
        T step = g / d;
        if (has_momentum) {
            step = momentum_buffer[i] * momentum + step;
            momentum_buffer[i] = step;
        }
        param[i] = p + step * neg_lr;
    }
}

// Adadelta: v <- v * rho + (g * (1 - rho)) * g;  delta = (sqrt(u + eps) / sqrt(v + eps)) * g;
//   u <- u * rho + (delta * (1 - rho)) * delta;  p <- p + delta * neg_lr.
template <typename T>
__global__ void adadelta_update(T* param, const T* grad, T* square_avg, T* acc_delta, long long n, int l2,
                                T weight_decay, int maximize, T rho, T one_minus_rho, T eps, T neg_lr,
                                const int* skip) {
    if (*skip) return;  // the update is skipped on the device (a non-finite loss in fit): nothing is written
    for (long long i = gn_thread_index(); i < n; i += gn_grid_stride()) {
        const T p = param[i];
        const T g = gn_effective_grad(grad[i], p, maximize, l2, weight_decay);
        const T v = square_avg[i] * rho + (g * one_minus_rho) * g;
        square_avg[i] = v;
        const T u = acc_delta[i];
        const T delta = (gn_sqrt(u + eps) / gn_sqrt(v + eps)) * g;
        acc_delta[i] = u * rho + (delta * one_minus_rho) * delta;
        param[i] = p + delta * neg_lr;
    }
}
