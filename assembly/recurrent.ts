// Fused gate kernels of the recurrent layers (RNN, LSTM, GRU). The matrix products run as GEMMs
// (all x_t·W_ihᵀ in one, h_{t−1}·W_hhᵀ per step); these apply the gate nonlinearities and the cell
// update of one time step in one pass over `rows` batch rows, forward and backward. Sigmoid and
// tanh come from one f32 exp with the same operations in the same order in the SIMD and scalar
// paths and in src/js/recurrent.ts (no FMA), so every backend rounds alike.
// see: https://github.com/jeremybarnes/cephes/blob/master/single/expf.c (expf: range reduction, degree-5 polynomial);
//      https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html (gate order i, f, g, o) and torch.nn.GRU (r, z, n)

// ln 2 split in two (C1 exact in few bits, so n·C1 is exact), log2(e), and 1.5·2²³: t + MAGIC rounds
// t to the nearest integer (ties to even) and leaves it in the low mantissa bits
const LOG2E: f32 = 1.44269504088896341;
const C1: f32 = 0.693359375;
const C2: f32 = -2.12194440e-4;
const MAGIC: f32 = 12582912.0;
// e^x for x below this would need 2^n with n < −126 (subnormal): clamped, e^(−87) ≈ 1.6e-38
const LO: f32 = -87.0;
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;
const ONE: f32 = 1;

/** e^x for x ≤ 0 (NaN stays NaN). */
@inline function expNeg(x0: f32): f32 {
  let x = max<f32>(x0, LO);
  let t = x * LOG2E + MAGIC;
  let n = t - MAGIC;
  let r = x - n * C1 - n * C2;
  let z = r * r;
  let y = ((((P0 * r + P1) * r + P2) * r + P3) * r + P4) * r + P5;
  y = y * z + r + 1;
  // 2^n from n's bits in t: exponent field n + 127
  let scale = reinterpret<f32>((reinterpret<i32>(t) - 0x4b400000 + 127) << 23);
  return y * scale;
}

@inline function expNegV(x0: v128): v128 {
  let x = f32x4.max(x0, f32x4.splat(LO));
  let t = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(MAGIC));
  let n = f32x4.sub(t, f32x4.splat(MAGIC));
  let r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(C1))), f32x4.mul(n, f32x4.splat(C2)));
  let z = f32x4.mul(r, r);
  let y = f32x4.add(f32x4.mul(f32x4.splat(P0), r), f32x4.splat(P1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(P2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(P3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(P4));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(P5));
  y = f32x4.add(f32x4.add(f32x4.mul(y, z), r), f32x4.splat(1));
  let scale = i32x4.shl(i32x4.add(i32x4.sub(t, i32x4.splat(0x4b400000)), i32x4.splat(127)), 23);
  return f32x4.mul(y, scale);
}

/** 1 / (1 + e^(−x)), from e^(−|x|) so nothing overflows. */
@inline function sigm(x: f32): f32 {
  let e = expNeg(-abs<f32>(x));
  let d = ONE + e;
  return x >= 0 ? ONE / d : e / d;
}

@inline function sigmV(x: v128): v128 {
  let e = expNegV(f32x4.neg(f32x4.abs(x)));
  let d = f32x4.add(f32x4.splat(1), e);
  return v128.bitselect(f32x4.div(f32x4.splat(1), d), f32x4.div(e, d), f32x4.ge(x, f32x4.splat(0)));
}

/** tanh(x) = sign(x)·(1 − e^(−2|x|)) / (1 + e^(−2|x|)). */
@inline function tanhf(x: f32): f32 {
  let e = expNeg(<f32>-2 * abs<f32>(x));
  let t = (ONE - e) / (ONE + e);
  return x < 0 ? -t : t;
}

@inline function tanhV(x: v128): v128 {
  let one = f32x4.splat(1);
  let e = expNegV(f32x4.mul(f32x4.splat(-2), f32x4.abs(x)));
  let t = f32x4.div(f32x4.sub(one, e), f32x4.add(one, e));
  return v128.bitselect(f32x4.neg(t), t, f32x4.lt(x, f32x4.splat(0)));
}

/**
 * One LSTM step over `rows` rows: g [rows, 4H] holds x·W_ihᵀ + h·W_hhᵀ + biases (gates i, f, g, o)
 * and is overwritten with the activated gates; c = f·cPrev + i·g, h = o·tanh(c) ([rows, H] each).
 */
export function lstmCellForward(g: usize, cPrev: usize, c: usize, h: usize, rows: i32, hs: i32): void {
  let gs = <usize>hs << 4,
    cs = <usize>hs << 2;
  for (let r = 0; r < rows; r++) {
    let gi = g + <usize>r * gs,
      gf = gi + cs,
      gg = gf + cs,
      go = gg + cs;
    let cp = cPrev + <usize>r * cs,
      cr = c + <usize>r * cs,
      hr = h + <usize>r * cs;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= hs; j += 4) {
        let o = <usize>j << 2;
        let i = sigmV(v128.load(gi + o)),
          f = sigmV(v128.load(gf + o)),
          gv = tanhV(v128.load(gg + o)),
          ov = sigmV(v128.load(go + o));
        let cv = f32x4.add(f32x4.mul(f, v128.load(cp + o)), f32x4.mul(i, gv));
        v128.store(gi + o, i);
        v128.store(gf + o, f);
        v128.store(gg + o, gv);
        v128.store(go + o, ov);
        v128.store(cr + o, cv);
        v128.store(hr + o, f32x4.mul(ov, tanhV(cv)));
      }
    }
    for (; j < hs; j++) {
      let o = <usize>j << 2;
      let i = sigm(load<f32>(gi + o)),
        f = sigm(load<f32>(gf + o)),
        gv = tanhf(load<f32>(gg + o)),
        ov = sigm(load<f32>(go + o));
      let cv = f * load<f32>(cp + o) + i * gv;
      store<f32>(gi + o, i);
      store<f32>(gf + o, f);
      store<f32>(gg + o, gv);
      store<f32>(go + o, ov);
      store<f32>(cr + o, cv);
      store<f32>(hr + o, ov * tanhf(cv));
    }
  }
}

/**
 * The backward of lstmCellForward over `rows` rows, from its activated gates g, cPrev and c: writes
 * the pre-activation gradients dg [rows, 4H]; dc (dL/dc in) becomes dL/dcPrev; dh (dL/dh in)
 * becomes 0, for the caller to add dg·W_hh.
 */
export function lstmCellBackward(g: usize, cPrev: usize, c: usize, dh: usize, dc: usize, dg: usize, rows: i32, hs: i32): void {
  let gs = <usize>hs << 4,
    cs = <usize>hs << 2;
  for (let r = 0; r < rows; r++) {
    let gi = g + <usize>r * gs,
      di = dg + <usize>r * gs;
    let rc = <usize>r * cs;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      let one = f32x4.splat(1);
      for (; j + 4 <= hs; j += 4) {
        let o = <usize>j << 2;
        let i = v128.load(gi + o),
          f = v128.load(gi + cs + o),
          gv = v128.load(gi + 2 * cs + o),
          ov = v128.load(gi + 3 * cs + o);
        let tc = tanhV(v128.load(c + rc + o));
        let h = v128.load(dh + rc + o);
        let dcv = f32x4.add(v128.load(dc + rc + o), f32x4.mul(f32x4.mul(h, ov), f32x4.sub(one, f32x4.mul(tc, tc))));
        v128.store(di + o, f32x4.mul(f32x4.mul(dcv, gv), f32x4.mul(i, f32x4.sub(one, i))));
        v128.store(di + cs + o, f32x4.mul(f32x4.mul(dcv, v128.load(cPrev + rc + o)), f32x4.mul(f, f32x4.sub(one, f))));
        v128.store(di + 2 * cs + o, f32x4.mul(f32x4.mul(dcv, i), f32x4.sub(one, f32x4.mul(gv, gv))));
        v128.store(di + 3 * cs + o, f32x4.mul(f32x4.mul(h, tc), f32x4.mul(ov, f32x4.sub(one, ov))));
        v128.store(dc + rc + o, f32x4.mul(dcv, f));
        v128.store(dh + rc + o, f32x4.splat(0));
      }
    }
    for (; j < hs; j++) {
      let o = <usize>j << 2;
      let i = load<f32>(gi + o),
        f = load<f32>(gi + cs + o),
        gv = load<f32>(gi + 2 * cs + o),
        ov = load<f32>(gi + 3 * cs + o);
      let tc = tanhf(load<f32>(c + rc + o));
      let h = load<f32>(dh + rc + o);
      let dcv = load<f32>(dc + rc + o) + h * ov * (ONE - tc * tc);
      store<f32>(di + o, dcv * gv * (i * (ONE - i)));
      store<f32>(di + cs + o, dcv * load<f32>(cPrev + rc + o) * (f * (ONE - f)));
      store<f32>(di + 2 * cs + o, dcv * i * (ONE - gv * gv));
      store<f32>(di + 3 * cs + o, h * tc * (ov * (ONE - ov)));
      store<f32>(dc + rc + o, dcv * f);
      store<f32>(dh + rc + o, 0);
    }
  }
}

/**
 * One GRU step over `rows` rows: xg = x·W_ihᵀ + b_ih and hg = h·W_hhᵀ + b_hh ([rows, 3H], gates
 * r, z, n); r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r·h_n), h = n + z·(hPrev − n).
 * xg is overwritten with r, z, n; hg is kept (the backward reads h_n).
 */
export function gruCellForward(xg: usize, hg: usize, hPrev: usize, h: usize, rows: i32, hs: i32): void {
  let gs = <usize>hs * 12,
    cs = <usize>hs << 2;
  for (let r = 0; r < rows; r++) {
    let xr = xg + <usize>r * gs,
      hr = hg + <usize>r * gs,
      rc = <usize>r * cs;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= hs; j += 4) {
        let o = <usize>j << 2;
        let rv = sigmV(f32x4.add(v128.load(xr + o), v128.load(hr + o)));
        let zv = sigmV(f32x4.add(v128.load(xr + cs + o), v128.load(hr + cs + o)));
        let nv = tanhV(f32x4.add(v128.load(xr + 2 * cs + o), f32x4.mul(rv, v128.load(hr + 2 * cs + o))));
        v128.store(xr + o, rv);
        v128.store(xr + cs + o, zv);
        v128.store(xr + 2 * cs + o, nv);
        v128.store(h + rc + o, f32x4.add(nv, f32x4.mul(zv, f32x4.sub(v128.load(hPrev + rc + o), nv))));
      }
    }
    for (; j < hs; j++) {
      let o = <usize>j << 2;
      let rv = sigm(load<f32>(xr + o) + load<f32>(hr + o));
      let zv = sigm(load<f32>(xr + cs + o) + load<f32>(hr + cs + o));
      let nv = tanhf(load<f32>(xr + 2 * cs + o) + rv * load<f32>(hr + 2 * cs + o));
      store<f32>(xr + o, rv);
      store<f32>(xr + cs + o, zv);
      store<f32>(xr + 2 * cs + o, nv);
      store<f32>(h + rc + o, nv + zv * (load<f32>(hPrev + rc + o) - nv));
    }
  }
}

/**
 * The backward of gruCellForward over `rows` rows, from its r, z, n (in xg), hg and hPrev: writes
 * dxg (dL/d(x·W_ihᵀ + b_ih)) and dhg (dL/d(h·W_hhᵀ + b_hh)); dh (dL/dh in) becomes its direct
 * part z·dh, for the caller to add dhg·W_hh.
 */
export function gruCellBackward(xg: usize, hg: usize, hPrev: usize, dh: usize, dxg: usize, dhg: usize, rows: i32, hs: i32): void {
  let gs = <usize>hs * 12,
    cs = <usize>hs << 2;
  for (let r = 0; r < rows; r++) {
    let xr = xg + <usize>r * gs,
      hr = hg + <usize>r * gs,
      dx = dxg + <usize>r * gs,
      dhr = dhg + <usize>r * gs,
      rc = <usize>r * cs;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      let one = f32x4.splat(1);
      for (; j + 4 <= hs; j += 4) {
        let o = <usize>j << 2;
        let rv = v128.load(xr + o),
          zv = v128.load(xr + cs + o),
          nv = v128.load(xr + 2 * cs + o);
        let d = v128.load(dh + rc + o);
        let dn = f32x4.mul(f32x4.mul(d, f32x4.sub(one, zv)), f32x4.sub(one, f32x4.mul(nv, nv)));
        let dz = f32x4.mul(f32x4.mul(d, f32x4.sub(v128.load(hPrev + rc + o), nv)), f32x4.mul(zv, f32x4.sub(one, zv)));
        let dr = f32x4.mul(f32x4.mul(dn, v128.load(hr + 2 * cs + o)), f32x4.mul(rv, f32x4.sub(one, rv)));
        v128.store(dx + o, dr);
        v128.store(dx + cs + o, dz);
        v128.store(dx + 2 * cs + o, dn);
        v128.store(dhr + o, dr);
        v128.store(dhr + cs + o, dz);
        v128.store(dhr + 2 * cs + o, f32x4.mul(dn, rv));
        v128.store(dh + rc + o, f32x4.mul(d, zv));
      }
    }
    for (; j < hs; j++) {
      let o = <usize>j << 2;
      let rv = load<f32>(xr + o),
        zv = load<f32>(xr + cs + o),
        nv = load<f32>(xr + 2 * cs + o);
      let d = load<f32>(dh + rc + o);
      let dn = d * (ONE - zv) * (ONE - nv * nv);
      let dz = d * (load<f32>(hPrev + rc + o) - nv) * (zv * (ONE - zv));
      let dr = dn * load<f32>(hr + 2 * cs + o) * (rv * (ONE - rv));
      store<f32>(dx + o, dr);
      store<f32>(dx + cs + o, dz);
      store<f32>(dx + 2 * cs + o, dn);
      store<f32>(dhr + o, dr);
      store<f32>(dhr + cs + o, dz);
      store<f32>(dhr + 2 * cs + o, dn * rv);
      store<f32>(dh + rc + o, d * zv);
    }
  }
}

/** One Elman RNN step over n = rows·H values: h = tanh(pre), or max(pre, 0) when `relu` (NaN stays NaN). */
export function rnnCellForward(pre: usize, h: usize, n: i32, relu: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let z = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      let v = v128.load(pre + o);
      v128.store(h + o, relu ? f32x4.pmax(v, z) : tanhV(v));
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let v = load<f32>(pre + o);
    // pmax's rule (v < 0 ? 0 : v) in the tail too: −0 and NaN come out alike in both paths
    store<f32>(h + o, relu ? (v < 0 ? <f32>0 : v) : tanhf(v));
  }
}

/** The backward of rnnCellForward over n values, from its output h: dpre = dh·f′; dh becomes 0. */
export function rnnCellBackward(h: usize, dh: usize, dpre: usize, n: i32, relu: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let z = f32x4.splat(0),
      one = f32x4.splat(1);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      let hv = v128.load(h + o),
        d = v128.load(dh + o);
      v128.store(dpre + o, relu ? v128.and(d, f32x4.gt(hv, z)) : f32x4.mul(d, f32x4.sub(one, f32x4.mul(hv, hv))));
      v128.store(dh + o, z);
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let hv = load<f32>(h + o),
      d = load<f32>(dh + o);
    store<f32>(dpre + o, relu ? (hv > 0 ? d : 0) : d * (ONE - hv * hv));
    store<f32>(dh + o, 0);
  }
}

/**
 * The output gate of a normalized LSTM step over `rows` rows: h = σ(o)·tanh(z), o the last H columns
 * of each row of the pre-activations g [rows, 4H] (not modified), z [rows, H] the normalized cell.
 */
export function lstmOutForward(g: usize, z: usize, h: usize, rows: i32, hs: i32): void {
  let gs = <usize>hs << 4,
    cs = <usize>hs << 2;
  for (let r = 0; r < rows; r++) {
    let go = g + <usize>r * gs + 3 * cs,
      rc = <usize>r * cs;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= hs; j += 4) {
        let o = <usize>j << 2;
        v128.store(h + rc + o, f32x4.mul(sigmV(v128.load(go + o)), tanhV(v128.load(z + rc + o))));
      }
    }
    for (; j < hs; j++) {
      let o = <usize>j << 2;
      store<f32>(h + rc + o, sigm(load<f32>(go + o)) * tanhf(load<f32>(z + rc + o)));
    }
  }
}

/** The backward of lstmOutForward: dg [rows, 4H] (o's columns dh·tanh(z)·σ'(o), the others 0) and dz [rows, H] = dh·σ(o)·tanh'(z). */
export function lstmOutBackward(g: usize, z: usize, dh: usize, dg: usize, dz: usize, rows: i32, hs: i32): void {
  let gs = <usize>hs << 4,
    cs = <usize>hs << 2;
  memory.fill(dg, 0, <usize>rows * gs);
  for (let r = 0; r < rows; r++) {
    let go = g + <usize>r * gs + 3 * cs,
      dgo = dg + <usize>r * gs + 3 * cs,
      rc = <usize>r * cs;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      let one = f32x4.splat(1);
      for (; j + 4 <= hs; j += 4) {
        let o = <usize>j << 2;
        let ov = sigmV(v128.load(go + o)),
          tz = tanhV(v128.load(z + rc + o)),
          d = v128.load(dh + rc + o);
        v128.store(dgo + o, f32x4.mul(f32x4.mul(d, tz), f32x4.mul(ov, f32x4.sub(one, ov))));
        v128.store(dz + rc + o, f32x4.mul(f32x4.mul(d, ov), f32x4.sub(one, f32x4.mul(tz, tz))));
      }
    }
    for (; j < hs; j++) {
      let o = <usize>j << 2;
      let ov = sigm(load<f32>(go + o)),
        tz = tanhf(load<f32>(z + rc + o)),
        d = load<f32>(dh + rc + o);
      store<f32>(dgo + o, d * tz * (ov * (ONE - ov)));
      store<f32>(dz + rc + o, d * ov * (ONE - tz * tz));
    }
  }
}
