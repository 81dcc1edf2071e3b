// cuda/kernels/matmul.cu — the matmul every cuda op calls: it runs one rung of the ladder
// (cuda/kernels/matmul_<n>_<rung>.cu, docs/kernels.md), the one matmul_rung_in_use() names, or the
// one a caller picks (matmul_rung: tests and `kiso bench --op matmul`). No kernel here; which rung
// the model uses and why is in cuda/matmul_rungs.cpp.
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"

namespace kiso::cuda {

template <Target D, class T>
void matmul_rung(MatmulRung rung, const T* a, const T* b, T* c, int64_t batch, int64_t M, int64_t N, int64_t K,
                 bool trans_a, bool trans_b) {
  [[maybe_unused]] constexpr bool is_float = sizeof(T) == sizeof(float);
  switch (rung) {
    case MatmulRung::naive: return matmul_naive<D>(a, b, c, batch, M, N, K, trans_a, trans_b);
    case MatmulRung::coalesced: return matmul_coalesced<D>(a, b, c, batch, M, N, K, trans_a, trans_b);
    case MatmulRung::tiled: return matmul_tiled<D>(a, b, c, batch, M, N, K, trans_a, trans_b);
    case MatmulRung::blocktile_1d: return matmul_blocktile_1d<D>(a, b, c, batch, M, N, K, trans_a, trans_b);
    case MatmulRung::blocktile_2d: return matmul_blocktile_2d<D>(a, b, c, batch, M, N, K, trans_a, trans_b);
    case MatmulRung::vectorized: return matmul_vectorized<D>(a, b, c, batch, M, N, K, trans_a, trans_b);
    case MatmulRung::warptile: return matmul_warptile<D>(a, b, c, batch, M, N, K, trans_a, trans_b);
    case MatmulRung::mma_tf32:
      if constexpr (is_float) return matmul_mma_tf32<D>(a, b, c, batch, M, N, K, trans_a, trans_b);
      break;
    case MatmulRung::mma_bf16:
      if constexpr (is_float) return matmul_mma_bf16<D>(a, b, c, batch, M, N, K, trans_a, trans_b);
      break;
  }
  matmul_rung_refused(rung, is_float ? "float" : "double");
}
template decltype(matmul_rung<kTarget, float>) matmul_rung<kTarget, float>;
template decltype(matmul_rung<kTarget, double>) matmul_rung<kTarget, double>;

template <Target D, class T>
void matmul(const T* a, const T* b, T* c, int64_t batch, int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b) {
  matmul_rung<D>(matmul_rung_in_use(sizeof(T) == sizeof(double)), a, b, c, batch, M, N, K, trans_a, trans_b);
}
template decltype(matmul<kTarget, float>) matmul<kTarget, float>;
template decltype(matmul<kTarget, double>) matmul<kTarget, double>;

}  // namespace kiso::cuda
