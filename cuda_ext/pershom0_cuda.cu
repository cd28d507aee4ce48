// CUDA implementation of toposhape::mst_edges (see pershom0.cpp for the contract).
//
// One thread block per point cloud runs Prim's algorithm: each of the n-1
// rounds relaxes the keys of all unvisited vertices against the row of the
// vertex added last (coalesced reads) and picks the next vertex with a
// block-wide arg-min (ties to the smaller index). O(n^2) work per cloud,
// O(n) scratch, no host synchronisation inside the loop. Edges are then
// sorted by length with a stable sort, as on the CPU. Each block flags its
// cloud when an entry it read is NaN or inf; the host then raises as the CPU
// op does (one copy of the B flags to the host).
#include <ATen/ATen.h>
#include <ATen/NumericUtils.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <limits>

namespace toposhape {

void check_dist(const at::Tensor& dist);
void check_finite_reads(const unsigned char* nonfinite, int64_t batch);

namespace {

constexpr int kThreads = 256;

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

  __shared__ scalar_t red_key[kThreads];
  __shared__ int64_t red_idx[kThreads];
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
      if (best < 0 || k[v] < best_key) {
        best_key = k[v];
        best = v;
      }
    }
    red_key[threadIdx.x] = best_key;
    red_idx[threadIdx.x] = best;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) {
        const int64_t i2 = red_idx[threadIdx.x + s];
        const scalar_t k2 = red_key[threadIdx.x + s];
        const int64_t i1 = red_idx[threadIdx.x];
        const scalar_t k1 = red_key[threadIdx.x];
        const bool take = i2 >= 0 && (i1 < 0 || k2 < k1 || (!(k1 < k2) && i2 < i1));
        if (take) {
          red_key[threadIdx.x] = k2;
          red_idx[threadIdx.x] = i2;
        }
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      const int64_t v = red_idx[0];
      dn[v] = 1;
      const int64_t p = par[v];
      o[2 * step] = p < v ? p : v;
      o[2 * step + 1] = p < v ? v : p;
      w[step] = k[v];
      cur = v;
    }
    __syncthreads();
  }
  if (bad) nonfinite[b] = 1;
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
    prim_kernel<scalar_t><<<static_cast<unsigned int>(batch), kThreads, 0, stream>>>(
        dist.data_ptr<scalar_t>(), n, key.data_ptr<scalar_t>(), parent.data_ptr<int64_t>(),
        done.data_ptr<unsigned char>(), edges.data_ptr<int64_t>(), weight.data_ptr<scalar_t>(),
        nonfinite.data_ptr<unsigned char>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  check_finite_reads(nonfinite.cpu().data_ptr<unsigned char>(), batch);
  const at::Tensor order = std::get<1>(weight.sort(/*stable=*/true, /*dim=*/-1));
  return edges.gather(1, order.unsqueeze(-1).expand({batch, n - 1, 2}));
}

}  // namespace

TORCH_LIBRARY_IMPL(toposhape, CUDA, m) {
  m.impl("mst_edges", &mst_edges_cuda);
}

}  // namespace toposhape
