// 0-dimensional Vietoris–Rips persistence of dense point clouds.
//
// The death times of 0-dim VR persistence are the edge lengths of a minimum
// spanning tree (MST) of the complete graph on the points. The op below takes
// a batch of distance matrices and returns, for each cloud, the n-1 MST edges
// sorted by length (ascending; ties keep the order in which Prim's algorithm
// found them, so the result is deterministic). Distances are computed and
// differentiated in Python; the op itself has no gradient (integer output).
//
// Prim reads every off-diagonal pair of a cloud once (row u or row v). A NaN
// or inf among the entries it reads makes the op raise ValueError: this check
// runs wherever the op runs, under torch.compile too, and is how a point cloud
// with a NaN or inf coordinate is refused there.
//
// Schema (one namespace for every backend):
//   toposhape::mst_edges(Tensor dist) -> Tensor
//     dist: (B, n, n) float32/float64, n >= 2, finite off the diagonal
//     out:  (B, n-1, 2) int64, each row (u, v) with u < v
#include <Python.h>
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace toposhape {

void check_dist(const at::Tensor& dist) {
  TORCH_CHECK(dist.dim() == 3, "mst_edges: dist must have shape (B, n, n), got ", dist.sizes());
  TORCH_CHECK(dist.size(1) == dist.size(2), "mst_edges: dist must be square, got ", dist.sizes());
  TORCH_CHECK(dist.size(1) >= 2, "mst_edges: need at least 2 points, got ", dist.size(1));
  TORCH_CHECK(dist.scalar_type() == at::kFloat || dist.scalar_type() == at::kDouble,
              "mst_edges: dist must be float32 or float64, got ", dist.scalar_type());
}

// Raises ValueError naming the first cloud whose flag is set (shared by the CPU and CUDA ops).
void check_finite_reads(const unsigned char* nonfinite, int64_t batch) {
  const unsigned char* first = std::find(nonfinite, nonfinite + batch, 1);
  TORCH_CHECK_VALUE(first == nonfinite + batch, "mst_edges: dist[", first - nonfinite,
                    "] contains NaN or inf (a point cloud with a NaN or inf coordinate has no "
                    "persistence)");
}

namespace {

// Prim's algorithm on one dense n x n matrix: O(n^2) time, O(n) memory.
// Writes the n-1 edges, sorted by length, into out (row-major (n-1) x 2).
// Returns whether an entry it read was NaN or inf (the edges are then void).
template <typename scalar_t>
bool prim_one(const scalar_t* d, int64_t n, int64_t* out) {
  const scalar_t inf = std::numeric_limits<scalar_t>::infinity();
  std::vector<scalar_t> key(n, inf);
  std::vector<int64_t> parent(n, 0);
  std::vector<char> done(n, 0);
  std::vector<int64_t> eu(n - 1), ev(n - 1);
  std::vector<scalar_t> ew(n - 1);
  int64_t cur = 0;
  bool nonfinite = false;
  done[0] = 1;
  for (int64_t step = 0; step < n - 1; ++step) {
    const scalar_t* row = d + cur * n;
    int64_t best = -1;
    scalar_t best_key = inf;
    for (int64_t v = 0; v < n; ++v) {
      if (done[v]) continue;
      const scalar_t w = row[v];
      nonfinite |= !std::isfinite(w);
      if (w < key[v]) {
        key[v] = w;
        parent[v] = cur;
      }
      // best < 0: always pick some vertex, even if keys are not comparable.
      if (best < 0 || key[v] < best_key) {
        best = v;
        best_key = key[v];
      }
    }
    done[best] = 1;
    eu[step] = std::min(parent[best], best);
    ev[step] = std::max(parent[best], best);
    ew[step] = key[best];
    cur = best;
  }
  std::vector<int64_t> order(n - 1);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return ew[a] < ew[b]; });
  for (int64_t i = 0; i < n - 1; ++i) {
    out[2 * i] = eu[order[i]];
    out[2 * i + 1] = ev[order[i]];
  }
  return nonfinite;
}

at::Tensor mst_edges_cpu(const at::Tensor& dist_in) {
  check_dist(dist_in);
  TORCH_CHECK(dist_in.device().is_cpu(), "mst_edges_cpu: dist must be a CPU tensor");
  const at::Tensor dist = dist_in.contiguous();
  const int64_t batch = dist.size(0);
  const int64_t n = dist.size(1);
  at::Tensor out = at::empty({batch, n - 1, 2}, dist.options().dtype(at::kLong));
  int64_t* out_ptr = out.data_ptr<int64_t>();
  std::vector<unsigned char> nonfinite(batch, 0);
  // Enough clouds per task that tiny clouds do not drown in scheduling.
  const int64_t grain = std::max<int64_t>(1, 16384 / (n * n));
  AT_DISPATCH_FLOATING_TYPES(dist.scalar_type(), "mst_edges_cpu", [&] {
    const scalar_t* d = dist.data_ptr<scalar_t>();
    at::parallel_for(0, batch, grain, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        nonfinite[b] = prim_one<scalar_t>(d + b * n * n, n, out_ptr + b * (n - 1) * 2);
      }
    });
  });
  check_finite_reads(nonfinite.data(), batch);
  return out;
}

}  // namespace

TORCH_LIBRARY(toposhape, m) {
  m.def("mst_edges(Tensor dist) -> Tensor");
}

TORCH_LIBRARY_IMPL(toposhape, CPU, m) {
  m.impl("mst_edges", &mst_edges_cpu);
}

}  // namespace toposhape

// An importable (empty) Python module: importing toposhape._C runs the
// registrations above.
extern "C" {
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
}
