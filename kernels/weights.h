// Reading one weight element in its file layout (F32, F16, BF16, Q8_0).
//
//   Q8_0 row: | d (f16, 2 bytes) | qs[32] (int8) | d | qs[32] | ...  34 bytes/block
#pragma once

#include "launchers.h"

namespace hs {
namespace hipk {

HS_DEVICE int64_t weight_row_bytes(int32_t dtype, int64_t cols) {
  if (dtype == kF32) return cols * 4;
  if (dtype == kQ8_0) return cols / 32 * 34;
  return cols * 2;
}

HS_DEVICE float q8_scale(dptr<const uint8_t> blk) {
  // Blocks are 34 bytes, so a scale is only 2-byte aligned: read it as bytes.
  return hs_f16_to_f32(static_cast<uint16_t>(blk[0] | (blk[1] << 8)));
}

HS_DEVICE float load_weight(int32_t dtype, dptr<const uint8_t> row, int64_t i) {
  if (dtype == kF32) return dptr_cast<const float>(row)[i];
  if (dtype == kF16) return hs_f16_to_f32(dptr_cast<const uint16_t>(row)[i]);
  if (dtype == kBF16) return hs_bf16_to_f32(dptr_cast<const uint16_t>(row)[i]);
  dptr<const uint8_t> blk = row + (i / 32) * 34;
  return q8_scale(blk) * static_cast<float>(static_cast<int8_t>(blk[2 + i % 32]));
}

}  // namespace hipk
}  // namespace hs
