// CUDA implementation of toposhape::mst_edges (see pershom0.cpp for the contract).
//
// One thread block per point cloud runs Prim's algorithm: each of the n-1
// rounds relaxes the keys of all unvisited vertices against the row of the
// vertex added last (coalesced reads) and picks the next vertex with a
// block-wide arg-min (ties to the smaller index): warp shuffles within each
// warp, then one warp over the warps' winners, so a round costs two block
// barriers whatever the block size. The block has one thread per vertex up to
// 1024 (rounded up to whole warps), so small clouds leave no warp idle and
// large ones get the most threads a block can have. O(n^2) work per cloud,
// O(n) scratch, no host synchronisation inside the loop. Edges are then
// sorted by length with a stable sort, as on the CPU. Each block flags its
// cloud when an entry it read is NaN or inf; the host then raises as the CPU
// op does (one copy of the B flags to the host).
#include <ATen/ATen.h>
#include <ATen/NumericUtils.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <optional>

namespace toposhape {

void check_dist(const at::Tensor& dist);
void check_finite_reads(const unsigned char* nonfinite, int64_t batch);

namespace {

constexpr int kWarp = 32;
constexpr int kMaxThreads = 1024;
constexpr unsigned kFullMask = 0xffffffffu;

// Keep (k2, i2) in (k1, i1) if it comes first: the smaller key, ties to the smaller
// index; an index < 0 marks "no candidate".
template <typename scalar_t>
__device__ __forceinline__ void keep_first(scalar_t& k1, int64_t& i1, scalar_t k2, int64_t i2) {
  if (i2 >= 0 && (i1 < 0 || k2 < k1 || (!(k1 < k2) && i2 < i1))) {
    k1 = k2;
    i1 = i2;
  }
}

// Arg-min over the 32 lanes of a warp; lane 0 ends up with the winner.
template <typename scalar_t>
__device__ __forceinline__ void warp_argmin(scalar_t& key, int64_t& idx) {
  for (int offset = kWarp / 2; offset > 0; offset >>= 1) {
    const scalar_t k2 = __shfl_down_sync(kFullMask, key, offset);
    const int64_t i2 = __shfl_down_sync(kFullMask, idx, offset);
    keep_first(key, idx, k2, i2);
  }
}

// Launch with blockDim.x a multiple of kWarp, at most kMaxThreads.
template <typename scalar_t>
__global__ void prim_kernel(const scalar_t* __restrict__ dist, int64_t n,
                            scalar_t* __restrict__ key, int64_t* __restrict__ parent,
                            unsigned char* __restrict__ done, int64_t* __restrict__ out,
                            scalar_t* __restrict__ weight, unsigned char* __restrict__ nonfinite) {
  const int64_t b = blockIdx.x;
  const scalar_t* d = dist + b * n * n;
  scalar_t* k = key + b * n;
  int64_t* par = parent + b * n;
  unsigned char* dn = done + b * n;
  int64_t* o = out + b * (n - 1) * 2;
  scalar_t* w = weight + b * (n - 1);
  const scalar_t inf = std::numeric_limits<scalar_t>::infinity();
  const int lane = threadIdx.x % kWarp;
  const int warp = threadIdx.x / kWarp;
  const int warps = blockDim.x / kWarp;

  __shared__ scalar_t warp_key[kMaxThreads / kWarp];
  __shared__ int64_t warp_idx[kMaxThreads / kWarp];
  __shared__ int64_t cur;

  for (int64_t v = threadIdx.x; v < n; v += blockDim.x) {
    k[v] = inf;
    par[v] = 0;
    dn[v] = (v == 0);
  }
  if (threadIdx.x == 0) cur = 0;
  bool bad = false;
  __syncthreads();

  for (int64_t step = 0; step < n - 1; ++step) {
    const scalar_t* row = d + cur * n;
    scalar_t best_key = inf;
    int64_t best = -1;
    for (int64_t v = threadIdx.x; v < n; v += blockDim.x) {
      if (dn[v]) continue;
      const scalar_t dv = row[v];
      bad |= at::_isnan(dv) || at::_isinf(dv);
      if (dv < k[v]) {
        k[v] = dv;
        par[v] = cur;
      }
      keep_first(best_key, best, k[v], v);
    }
    warp_argmin(best_key, best);
    if (lane == 0) {
      warp_key[warp] = best_key;
      warp_idx[warp] = best;
    }
    __syncthreads();
    if (warp == 0) {
      best_key = lane < warps ? warp_key[lane] : inf;
      best = lane < warps ? warp_idx[lane] : -1;
      warp_argmin(best_key, best);
      if (lane == 0) {
        const int64_t v = best;
        dn[v] = 1;
        const int64_t p = par[v];
        o[2 * step] = p < v ? p : v;
        o[2 * step + 1] = p < v ? v : p;
        w[step] = k[v];
        cur = v;
      }
    }
    __syncthreads();
  }
  if (bad) nonfinite[b] = 1;
}

// Threads per block for clouds of n points: one per point, in whole warps, at most
// kMaxThreads.
int block_threads(int64_t n) {
  const int64_t warps = (n + kWarp - 1) / kWarp;
  return static_cast<int>(std::min<int64_t>(std::max<int64_t>(warps, 1) * kWarp, kMaxThreads));
}

at::Tensor mst_edges_cuda(const at::Tensor& dist_in) {
  check_dist(dist_in);
  TORCH_CHECK(dist_in.is_cuda(), "mst_edges_cuda: dist must be a CUDA tensor");
  const c10::cuda::CUDAGuard guard(dist_in.device());
  const at::Tensor dist = dist_in.contiguous();
  const int64_t batch = dist.size(0);
  const int64_t n = dist.size(1);
  at::Tensor edges = at::empty({batch, n - 1, 2}, dist.options().dtype(at::kLong));
  if (batch == 0) return edges;
  at::Tensor weight = at::empty({batch, n - 1}, dist.options());
  at::Tensor key = at::empty({batch, n}, dist.options());
  at::Tensor parent = at::empty({batch, n}, dist.options().dtype(at::kLong));
  at::Tensor done = at::empty({batch, n}, dist.options().dtype(at::kByte));
  at::Tensor nonfinite = at::zeros({batch}, dist.options().dtype(at::kByte));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(dist.scalar_type(), "mst_edges_cuda", [&] {
    prim_kernel<scalar_t><<<static_cast<unsigned int>(batch), block_threads(n), 0, stream>>>(
        dist.data_ptr<scalar_t>(), n, key.data_ptr<scalar_t>(), parent.data_ptr<int64_t>(),
        done.data_ptr<unsigned char>(), edges.data_ptr<int64_t>(), weight.data_ptr<scalar_t>(),
        nonfinite.data_ptr<unsigned char>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  check_finite_reads(nonfinite.cpu().data_ptr<unsigned char>(), batch);
  // The stable overload: a bare `true` would bind to sort(dim, descending) instead.
  const at::Tensor order =
      std::get<1>(weight.sort(std::optional<bool>(true), /*dim=*/-1, /*descending=*/false));
  return edges.gather(1, order.unsqueeze(-1).expand({batch, n - 1, 2}));
}

}  // namespace

TORCH_LIBRARY_IMPL(toposhape, CUDA, m) {
  m.impl("mst_edges", &mst_edges_cuda);
}

}  // namespace toposhape
