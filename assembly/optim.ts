// Optimizer updates, one pass over a parameter and its gradient, PyTorch's update rules.
// see: https://pytorch.org/docs/stable/generated/torch.optim.SGD.html;
//      https://pytorch.org/docs/stable/generated/torch.optim.Adam.html and AdamW.html
//      (Kingma & Ba 2015, https://arxiv.org/abs/1412.6980; Loshchilov & Hutter 2019, https://arxiv.org/abs/1711.05101)

/**
 * SGD: d = g + wd·p; with momentum, buf = first ? d : μ·buf + (1 − dampening)·d and
 * d = nesterov ? d + μ·buf : buf; then p −= lr·d.
 */
export function sgdStep(p: usize, g: usize, buf: usize, n: i32, lr: f32, momentum: f32, dampening: f32, weightDecay: f32, nesterov: i32, first: i32): void {
  for (let i = 0; i < n; i++) {
    let o = <usize>i << 2;
    let w = load<f32>(p + o);
    let d = load<f32>(g + o);
    if (weightDecay != 0) d += weightDecay * w;
    if (momentum != 0) {
      let b = first ? d : momentum * load<f32>(buf + o) + (1 - dampening) * d;
      store<f32>(buf + o, b);
      d = nesterov ? d + momentum * b : b;
    }
    store<f32>(p + o, w - lr * d);
  }
}

/**
 * Adam (decoupled = 0: g += wd·p) or AdamW (decoupled = 1: p ·= 1 − lr·wd), step t ≥ 1:
 * m = β1·m + (1 − β1)·g, v = β2·v + (1 − β2)·g², p −= lr/(1 − β1^t) · m / (√v/√(1 − β2^t) + eps).
 */
export function adamStep(p: usize, g: usize, m: usize, v: usize, n: i32, lr: f32, beta1: f32, beta2: f32, eps: f32, weightDecay: f32, decoupled: i32, t: i32): void {
  let c1 = <f32>(1 - Math.pow(<f64>beta1, <f64>t));
  let c2 = <f32>Math.sqrt(1 - Math.pow(<f64>beta2, <f64>t));
  let stepSize = lr / c1;
  for (let i = 0; i < n; i++) {
    let o = <usize>i << 2;
    let w = load<f32>(p + o);
    let d = load<f32>(g + o);
    if (weightDecay != 0) {
      if (decoupled) w *= 1 - lr * weightDecay;
      else d += weightDecay * w;
    }
    let mi = beta1 * load<f32>(m + o) + (1 - beta1) * d;
    let vi = beta2 * load<f32>(v + o) + (1 - beta2) * d * d;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    store<f32>(p + o, w - stepSize * (mi / (Mathf.sqrt(vi) / c2 + eps)));
  }
}

/**
 * RMSprop: d = g + wd·p; v = α·v + (1 − α)·d²; centered: a = α·a + (1 − α)·d, s = √(v − a²) + eps,
 * else s = √v + eps; with momentum buf = μ·buf + d/s and p −= lr·buf, else p −= lr·d/s. `avg` is
 * used only when centered, `buf` only with momentum.
 */
// see: https://pytorch.org/docs/stable/generated/torch.optim.RMSprop.html
export function rmspropStep(p: usize, g: usize, v: usize, avg: usize, buf: usize, n: i32, lr: f32, alpha: f32, eps: f32, weightDecay: f32, momentum: f32, centered: i32): void {
  for (let i = 0; i < n; i++) {
    let o = <usize>i << 2;
    let w = load<f32>(p + o);
    let d = load<f32>(g + o);
    if (weightDecay != 0) d += weightDecay * w;
    let vi = alpha * load<f32>(v + o) + (1 - alpha) * d * d;
    store<f32>(v + o, vi);
    let s: f32;
    if (centered) {
      let a = alpha * load<f32>(avg + o) + (1 - alpha) * d;
      store<f32>(avg + o, a);
      s = Mathf.sqrt(vi - a * a) + eps;
    } else s = Mathf.sqrt(vi) + eps;
    if (momentum != 0) {
      let b = momentum * load<f32>(buf + o) + d / s;
      store<f32>(buf + o, b);
      store<f32>(p + o, w - lr * b);
    } else store<f32>(p + o, w - lr * (d / s));
  }
}

/** Adagrad: d = g + wd·p; sum += d²; p −= clr·d/(√sum + eps), clr = lr/(1 + (t − 1)·lrDecay). */
// see: https://pytorch.org/docs/stable/generated/torch.optim.Adagrad.html
export function adagradStep(p: usize, g: usize, sum: usize, n: i32, lr: f32, lrDecay: f32, eps: f32, weightDecay: f32, t: i32): void {
  let clr = <f32>(<f64>lr / (1 + <f64>(t - 1) * <f64>lrDecay));
  for (let i = 0; i < n; i++) {
    let o = <usize>i << 2;
    let w = load<f32>(p + o);
    let d = load<f32>(g + o);
    if (weightDecay != 0) d += weightDecay * w;
    let s = load<f32>(sum + o) + d * d;
    store<f32>(sum + o, s);
    store<f32>(p + o, w - clr * (d / (Mathf.sqrt(s) + eps)));
  }
}

/**
 * Adadelta: d = g + wd·p; v = ρ·v + (1 − ρ)·d²; δ = √(u + eps)/√(v + eps)·d; u = ρ·u + (1 − ρ)·δ²;
 * p −= lr·δ.
 */
// see: https://pytorch.org/docs/stable/generated/torch.optim.Adadelta.html (Zeiler 2012, https://arxiv.org/abs/1212.5701)
export function adadeltaStep(p: usize, g: usize, v: usize, u: usize, n: i32, lr: f32, rho: f32, eps: f32, weightDecay: f32): void {
  for (let i = 0; i < n; i++) {
    let o = <usize>i << 2;
    let w = load<f32>(p + o);
    let d = load<f32>(g + o);
    if (weightDecay != 0) d += weightDecay * w;
    let vi = rho * load<f32>(v + o) + (1 - rho) * d * d;
    store<f32>(v + o, vi);
    let delta = (Mathf.sqrt(load<f32>(u + o) + eps) / Mathf.sqrt(vi + eps)) * d;
    store<f32>(u + o, rho * load<f32>(u + o) + (1 - rho) * delta * delta);
    store<f32>(p + o, w - lr * delta);
  }
}
