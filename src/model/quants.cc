#include "model/quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/half.h"

namespace cascade::quants {
namespace {

float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}

void put_half(uint8_t* p, float v) {
  const uint16_t h = fp32_to_fp16(v);
  std::memcpy(p, &h, 2);
}

// ggml's nearest_int: round to nearest, ties to even (default FP rounding).
int nearest_int(float v) { return static_cast<int>(std::lrintf(v)); }

// The value of largest magnitude (with its sign) among x[0..n).
float signed_absmax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j)
    if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
  return max;
}

// ggml's get_scale_min_k4: the j-th 6-bit scale and min of Q4_K / Q5_K.
void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

// The inverse: packs 8 6-bit scales and mins into 12 bytes.
void put_scale_min_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* q) {
  std::memset(q, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] = ls[j];
      q[j + 4] = lm[j];
    } else {
      q[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4);
      q[j - 4] |= (ls[j] >> 4) << 6;
      q[j - 0] |= (lm[j] >> 4) << 6;
    }
  }
}

// Q3_K's 16 6-bit scales (stored +32), unpacked as ggml's kmask shuffle does.
void q3_k_scales(const uint8_t* packed, int8_t* scales) {
  uint32_t aux[4];
  std::memcpy(aux, packed, 12);
  const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  const uint32_t tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
  aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
  aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
  aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
  std::memcpy(scales, aux, 16);
}

// Asymmetric fit of the K-quants: per sub-block of `sub` values a scale and
// a (non-negative) min so that x ~ scale * q - min with q in 0..nmax, then
// both quantized to `sbits` bits against the block's d and dmin. Fills the
// integer scales/mins, d, dmin and L (the q per value).
void fit_asymmetric(const float* x, int n_sub, int sub, int nmax, int smax, uint8_t* ls, uint8_t* lm,
                    float* d_out, float* dmin_out, uint8_t* L) {
  float scales[16], mins[16], max_scale = 0.0f, max_min = 0.0f;
  for (int j = 0; j < n_sub; ++j) {
    const float* v = x + j * sub;
    float mn = std::min(0.0f, *std::min_element(v, v + sub));
    float mx = *std::max_element(v, v + sub);
    scales[j] = (mx - mn) / nmax;
    mins[j] = -mn;
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? smax / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? smax / max_min : 0.0f;
  for (int j = 0; j < n_sub; ++j) {
    ls[j] = static_cast<uint8_t>(std::min(smax, nearest_int(inv_scale * scales[j])));
    lm[j] = static_cast<uint8_t>(std::min(smax, nearest_int(inv_min * mins[j])));
  }
  // As stored (fp16), so the values below are fitted to what decoding sees.
  *d_out = fp16_to_fp32(fp32_to_fp16(max_scale / smax));
  *dmin_out = fp16_to_fp32(fp32_to_fp16(max_min / smax));
  for (int j = 0; j < n_sub; ++j) {
    const float d = *d_out * ls[j], dm = *dmin_out * lm[j];
    for (int i = 0; i < sub; ++i) {
      const int l = d != 0.0f ? nearest_int((x[j * sub + i] + dm) / d) : 0;
      L[j * sub + i] = static_cast<uint8_t>(std::clamp(l, 0, nmax));
    }
  }
}

// Symmetric fit (Q3_K, Q6_K): per 16 values a signed scale mapping the value
// of largest magnitude to -qmin, the 16 scales quantized to signed integers
// in [-smax-1, smax] against d. L holds q + qmin (0..2*qmin-1).
void fit_symmetric(const float* x, int qmin, int smax, int8_t* sc, float* d_out, uint8_t* L) {
  float scales[16], max_scale = 0.0f;
  for (int j = 0; j < 16; ++j) {
    scales[j] = signed_absmax(x + 16 * j, 16) / -qmin;
    if (std::fabs(scales[j]) > std::fabs(max_scale)) max_scale = scales[j];
  }
  const float iscale = max_scale != 0.0f ? -(smax + 1) / max_scale : 0.0f;
  for (int j = 0; j < 16; ++j) sc[j] = static_cast<int8_t>(std::clamp(nearest_int(iscale * scales[j]), -smax - 1, smax));
  *d_out = fp16_to_fp32(fp32_to_fp16(iscale != 0.0f ? 1.0f / iscale : 0.0f));
  for (int j = 0; j < 16; ++j) {
    const float d = *d_out * sc[j];
    for (int i = 0; i < 16; ++i) {
      const int l = d != 0.0f ? nearest_int(x[16 * j + i] / d) : 0;
      L[16 * j + i] = static_cast<uint8_t>(std::clamp(l, -qmin, qmin - 1) + qmin);
    }
  }
}

}  // namespace

// ---- 32-value formats -------------------------------------------------------

void dequantize_q4_0(const uint8_t* src, uint64_t nb, float* y) {
  for (uint64_t i = 0; i < nb; ++i, src += 18, y += kQK) {
    const float d = half_at(src);
    const uint8_t* qs = src + 2;
    for (int j = 0; j < 16; ++j) {
      y[j] = ((qs[j] & 0x0F) - 8) * d;
      y[j + 16] = ((qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const uint8_t* src, uint64_t nb, float* y) {
  for (uint64_t i = 0; i < nb; ++i, src += 20, y += kQK) {
    const float d = half_at(src), m = half_at(src + 2);
    const uint8_t* qs = src + 4;
    for (int j = 0; j < 16; ++j) {
      y[j] = (qs[j] & 0x0F) * d + m;
      y[j + 16] = (qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_q5_0(const uint8_t* src, uint64_t nb, float* y) {
  for (uint64_t i = 0; i < nb; ++i, src += 22, y += kQK) {
    const float d = half_at(src);
    uint32_t qh;
    std::memcpy(&qh, src + 2, 4);
    const uint8_t* qs = src + 6;
    for (int j = 0; j < 16; ++j) {
      const uint8_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10;
      const uint8_t xh_1 = ((qh >> (j + 12))) & 0x10;
      y[j] = (((qs[j] & 0x0F) | xh_0) - 16) * d;
      y[j + 16] = (((qs[j] >> 4) | xh_1) - 16) * d;
    }
  }
}

void dequantize_q5_1(const uint8_t* src, uint64_t nb, float* y) {
  for (uint64_t i = 0; i < nb; ++i, src += 24, y += kQK) {
    const float d = half_at(src), m = half_at(src + 2);
    uint32_t qh;
    std::memcpy(&qh, src + 4, 4);
    const uint8_t* qs = src + 8;
    for (int j = 0; j < 16; ++j) {
      const uint8_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10;
      const uint8_t xh_1 = ((qh >> (j + 12))) & 0x10;
      y[j] = ((qs[j] & 0x0F) | xh_0) * d + m;
      y[j + 16] = ((qs[j] >> 4) | xh_1) * d + m;
    }
  }
}

void dequantize_q8_0(const uint8_t* src, uint64_t nb, float* y) {
  for (uint64_t i = 0; i < nb; ++i, src += 34, y += kQK) {
    const float d = half_at(src);
    const auto* q = reinterpret_cast<const int8_t*>(src + 2);
    for (int j = 0; j < kQK; ++j) y[j] = d * static_cast<float>(q[j]);
  }
}

void quantize_q4_0(const float* x, uint64_t nb, uint8_t* dst) {
  for (uint64_t i = 0; i < nb; ++i, x += kQK, dst += 18) {
    const float max = signed_absmax(x, kQK);
    const float d = max / -8, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_half(dst, d);
    for (int j = 0; j < 16; ++j) {
      const uint8_t xi0 = std::min<int8_t>(15, static_cast<int8_t>(x[j] * id + 8.5f));
      const uint8_t xi1 = std::min<int8_t>(15, static_cast<int8_t>(x[16 + j] * id + 8.5f));
      dst[2 + j] = xi0 | (xi1 << 4);
    }
  }
}

void quantize_q4_1(const float* x, uint64_t nb, uint8_t* dst) {
  for (uint64_t i = 0; i < nb; ++i, x += kQK, dst += 20) {
    const float min = *std::min_element(x, x + kQK), max = *std::max_element(x, x + kQK);
    const float d = (max - min) / 15, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_half(dst, d);
    put_half(dst + 2, min);
    for (int j = 0; j < 16; ++j) {
      const uint8_t xi0 = std::min<int8_t>(15, static_cast<int8_t>((x[j] - min) * id + 0.5f));
      const uint8_t xi1 = std::min<int8_t>(15, static_cast<int8_t>((x[16 + j] - min) * id + 0.5f));
      dst[4 + j] = xi0 | (xi1 << 4);
    }
  }
}

void quantize_q5_0(const float* x, uint64_t nb, uint8_t* dst) {
  for (uint64_t i = 0; i < nb; ++i, x += kQK, dst += 22) {
    const float max = signed_absmax(x, kQK);
    const float d = max / -16, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_half(dst, d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const uint8_t xi0 = std::min<int8_t>(31, static_cast<int8_t>(x[j] * id + 16.5f));
      const uint8_t xi1 = std::min<int8_t>(31, static_cast<int8_t>(x[16 + j] * id + 16.5f));
      dst[6 + j] = (xi0 & 0x0F) | ((xi1 & 0x0F) << 4);
      qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
      qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(dst + 2, &qh, 4);
  }
}

void quantize_q5_1(const float* x, uint64_t nb, uint8_t* dst) {
  for (uint64_t i = 0; i < nb; ++i, x += kQK, dst += 24) {
    const float min = *std::min_element(x, x + kQK), max = *std::max_element(x, x + kQK);
    const float d = (max - min) / 31, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_half(dst, d);
    put_half(dst + 2, min);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const uint8_t xi0 = static_cast<uint8_t>((x[j] - min) * id + 0.5f);
      const uint8_t xi1 = static_cast<uint8_t>((x[16 + j] - min) * id + 0.5f);
      dst[8 + j] = (xi0 & 0x0F) | ((xi1 & 0x0F) << 4);
      qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
      qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(dst + 4, &qh, 4);
  }
}

void quantize_q8_0(const float* x, uint64_t nb, uint8_t* dst) {
  // ggml's quantize_row_q8_0_ref: d = amax/127, q = round(x/d).
  for (uint64_t i = 0; i < nb; ++i, x += kQK, dst += 34) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_half(dst, d);
    for (int j = 0; j < kQK; ++j) dst[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::lround(x[j] * id)));
  }
}

// ---- K-quants ------------------------------------------------------------

void dequantize_q2_k(const uint8_t* src, uint64_t nb, float* y) {
  for (uint64_t i = 0; i < nb; ++i, src += 84) {
    const uint8_t* scales = src;
    const uint8_t* q = src + 16;
    const float d = half_at(src + 80), min = half_at(src + 82);
    int is = 0;
    for (int n = 0; n < kQKK; n += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        uint8_t sc = scales[is++];
        float dl = d * (sc & 0xF), ml = min * (sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<int8_t>((q[l] >> shift) & 3) - ml;
        sc = scales[is++];
        dl = d * (sc & 0xF), ml = min * (sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<int8_t>((q[l + 16] >> shift) & 3) - ml;
        shift += 2;
      }
      q += 32;
    }
  }
}

void dequantize_q3_k(const uint8_t* src, uint64_t nb, float* y) {
  for (uint64_t i = 0; i < nb; ++i, src += 110) {
    const uint8_t* hm = src;
    const uint8_t* q = src + 32;
    int8_t scales[16];
    q3_k_scales(src + 96, scales);
    const float d_all = half_at(src + 108);
    uint8_t m = 1;
    int is = 0;
    for (int n = 0; n < kQKK; n += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        float dl = d_all * (scales[is++] - 32);
        for (int l = 0; l < 16; ++l)
          *y++ = dl * (static_cast<int8_t>((q[l + 0] >> shift) & 3) - ((hm[l + 0] & m) ? 0 : 4));
        dl = d_all * (scales[is++] - 32);
        for (int l = 0; l < 16; ++l)
          *y++ = dl * (static_cast<int8_t>((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
        shift += 2;
        m <<= 1;
      }
      q += 32;
    }
  }
}

void dequantize_q4_k(const uint8_t* src, uint64_t nb, float* y) {
  for (uint64_t i = 0; i < nb; ++i, src += 144) {
    const float d = half_at(src), min = half_at(src + 2);
    const uint8_t* scales = src + 4;
    const uint8_t* q = src + 16;
    int is = 0;
    uint8_t sc, m;
    for (int j = 0; j < kQKK; j += 64) {
      get_scale_min_k4(is + 0, scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

void dequantize_q5_k(const uint8_t* src, uint64_t nb, float* y) {
  for (uint64_t i = 0; i < nb; ++i, src += 176) {
    const float d = half_at(src), min = half_at(src + 2);
    const uint8_t* scales = src + 4;
    const uint8_t* qh = src + 16;
    const uint8_t* ql = src + 48;
    int is = 0;
    uint8_t sc, m, u1 = 1, u2 = 2;
    for (int j = 0; j < kQKK; j += 64) {
      get_scale_min_k4(is + 0, scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

void dequantize_q6_k(const uint8_t* src, uint64_t nb, float* y) {
  for (uint64_t i = 0; i < nb; ++i, src += 210) {
    const uint8_t* ql = src;
    const uint8_t* qh = src + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(src + 192);
    const float d = half_at(src + 208);
    for (int n = 0; n < kQKK; n += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int8_t q1 = static_cast<int8_t>((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int8_t q2 = static_cast<int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int8_t q3 = static_cast<int8_t>((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int8_t q4 = static_cast<int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

void quantize_q2_k(const float* x, uint64_t nb, uint8_t* dst) {
  for (uint64_t i = 0; i < nb; ++i, x += kQKK, dst += 84) {
    uint8_t ls[16], lm[16], L[kQKK];
    float d, dmin;
    fit_asymmetric(x, 16, 16, 3, 15, ls, lm, &d, &dmin, L);
    for (int j = 0; j < 16; ++j) dst[j] = ls[j] | (lm[j] << 4);
    uint8_t* qs = dst + 16;
    for (int j = 0; j < kQKK; j += 128)
      for (int l = 0; l < 32; ++l)
        qs[j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
    put_half(dst + 80, d);
    put_half(dst + 82, dmin);
  }
}

void quantize_q3_k(const float* x, uint64_t nb, uint8_t* dst) {
  for (uint64_t i = 0; i < nb; ++i, x += kQKK, dst += 110) {
    int8_t sc[16];
    uint8_t L[kQKK];
    float d;
    fit_symmetric(x, 4, 31, sc, &d, L);
    uint8_t* hmask = dst;
    uint8_t* qs = dst + 32;
    uint8_t* scales = dst + 96;
    std::memset(scales, 0, 12);
    for (int j = 0; j < 16; ++j) {
      const int l = sc[j] + 32;
      if (j < 8) scales[j] = l & 0xF;
      else scales[j - 8] |= (l & 0xF) << 4;
      scales[j % 4 + 8] |= (l >> 4) << (2 * (j / 4));
    }
    put_half(dst + 108, d);
    std::memset(hmask, 0, 32);
    for (int j = 0; j < kQKK; ++j) {
      if (L[j] > 3) {
        hmask[j % 32] |= 1 << (j / 32);
        L[j] -= 4;
      }
    }
    for (int j = 0; j < kQKK; j += 128)
      for (int l = 0; l < 32; ++l)
        qs[j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
  }
}

void quantize_q4_k(const float* x, uint64_t nb, uint8_t* dst) {
  for (uint64_t i = 0; i < nb; ++i, x += kQKK, dst += 144) {
    uint8_t ls[8], lm[8], L[kQKK];
    float d, dmin;
    fit_asymmetric(x, 8, 32, 15, 63, ls, lm, &d, &dmin, L);
    put_half(dst, d);
    put_half(dst + 2, dmin);
    put_scale_min_k4(ls, lm, dst + 4);
    uint8_t* q = dst + 16;
    for (int j = 0; j < kQKK; j += 64, q += 32)
      for (int l = 0; l < 32; ++l) q[l] = L[j + l] | (L[j + l + 32] << 4);
  }
}

void quantize_q5_k(const float* x, uint64_t nb, uint8_t* dst) {
  for (uint64_t i = 0; i < nb; ++i, x += kQKK, dst += 176) {
    uint8_t ls[8], lm[8], L[kQKK];
    float d, dmin;
    fit_asymmetric(x, 8, 32, 31, 63, ls, lm, &d, &dmin, L);
    put_half(dst, d);
    put_half(dst + 2, dmin);
    put_scale_min_k4(ls, lm, dst + 4);
    uint8_t* qh = dst + 16;
    uint8_t* ql = dst + 48;
    std::memset(qh, 0, 32);
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < kQKK; n += 64, ql += 32) {
      for (int j = 0; j < 32; ++j) {
        int l1 = L[n + j], l2 = L[n + j + 32];
        if (l1 > 15) l1 -= 16, qh[j] |= m1;
        if (l2 > 15) l2 -= 16, qh[j] |= m2;
        ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
      m1 <<= 2;
      m2 <<= 2;
    }
  }
}

void quantize_q6_k(const float* x, uint64_t nb, uint8_t* dst) {
  for (uint64_t i = 0; i < nb; ++i, x += kQKK, dst += 210) {
    int8_t sc[16];
    uint8_t L[kQKK];
    float d;
    fit_symmetric(x, 32, 127, sc, &d, L);
    uint8_t* ql = dst;
    uint8_t* qh = dst + 128;
    std::memcpy(dst + 192, sc, 16);
    put_half(dst + 208, d);
    for (int j = 0; j < kQKK; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
        const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
        ql[l + 0] = q1 | (q3 << 4);
        ql[l + 32] = q2 | (q4 << 4);
        qh[l] = (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                ((L[j + l + 96] >> 4) << 6);
      }
    }
  }
}

}  // namespace cascade::quants
