// Second pass of a deterministic column reduction (gpunet.use_deterministic_algorithms).
//
// A column launch with several rows of blocks (see _common.cu) leaves one partial total per block row and column
// in a row-major (parts x cols) workspace (gn_column_store with ld = cols) instead of atomicAdd-ing them into the
// output in whatever order the blocks run. column_sum adds them up in an order fixed by the shapes alone, so the
// result is the same bits on every run.

// out[c] = sum over p of ws[p * cols + c]. Column launch with gridDim.y == 1: each thread sums the rows
// threadIdx.y, threadIdx.y + by, ... of its column in order, then the block's tree sum over threadIdx.y (fixed
// pairing) gives the total. Dynamic shared memory: bx * by * sizeof(T) bytes.
template <typename T>
__global__ void column_sum(const T* ws, T* out, long long parts, long long cols) {
    T* part = reinterpret_cast<T*>(gn_smem);
    const long long c = gn_column();
    T acc = T(0);
    if (c < cols) {
        for (long long p = threadIdx.y; p < parts; p += blockDim.y) acc += ws[p * cols + c];
    }
    part[gn_slot()] = acc;
    gn_tree_sum_y(part);
    if (threadIdx.y == 0 && c < cols) out[c] = part[threadIdx.x];
}
