// The BN paper's MLP in TF.js, for `npm run bench -- --train` (bench/train.ts times these against
// ours): as a tf.layers model (trainOnBatch) and as core ops (variableGrads + applyGradients), both
// from our initial weights.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** The MLP's layer sizes ([in, out] per Linear), SGD learning rate and BN epsilon. */
export interface MlpSpec {
  sizes: [number, number][];
  lr: number;
  eps: number;
}

/** Weights as TF.js wants them: kernel [in, out] = Wᵀ, bias [out]. */
function tfWeights(s: MlpSpec, init: { w: Float32Array; b: Float32Array }[]): tf.Tensor[][] {
  return init.map(({ w, b }, i) => {
    const [inF, outF] = s.sizes[i],
      k = new Float32Array(inF * outF);
    for (let o = 0; o < outF; o++) for (let j = 0; j < inF; j++) k[j * outF + o] = w[o * inF + j];
    return [tf.tensor2d(k, [inF, outF]), tf.tensor1d(b)];
  });
}

const softmaxCE = (yTrue: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, logits);

/** tf.layers: Dense (+ BatchNormalization) + sigmoid Activation per hidden layer, trainOnBatch with SGD. */
export function tfLayers(s: MlpSpec, bn: boolean, init: { w: Float32Array; b: Float32Array }[], x: tf.Tensor, y1h: tf.Tensor) {
  const model = tfl.sequential();
  s.sizes.forEach(([inF, outF], i) => {
    model.add(tfl.layers.dense(i === 0 ? { units: outF, inputShape: [inF] } : { units: outF }));
    if (i === s.sizes.length - 1) return;
    // epsilon as ours; momentum 0.9 is PyTorch's 0.1 (it only moves the running statistics)
    if (bn) model.add(tfl.layers.batchNormalization({ epsilon: s.eps, momentum: 0.9 }));
    model.add(tfl.layers.activation({ activation: 'sigmoid' }));
  });
  model.compile({ optimizer: tf.train.sgd(s.lr), loss: softmaxCE });
  const dense = model.layers.filter((l) => l.getClassName() === 'Dense');
  for (const [i, ws] of tfWeights(s, init).entries()) {
    dense[i].setWeights(ws);
    tf.dispose(ws);
  }
  return {
    step: async () => (await model.trainOnBatch(x, y1h)) as number,
    dispose: () => {
      model.optimizer.dispose();
      model.dispose();
    },
  };
}

/** Core ops: fused matMul + bias, moments + batchNorm, sigmoid; variableGrads and applyGradients in a tidy. */
export function tfCore(s: MlpSpec, bn: boolean, init: { w: Float32Array; b: Float32Array }[], x: tf.Tensor, y1h: tf.Tensor) {
  const vars: tf.Variable[] = [];
  const keep = (t: tf.Tensor) => {
    const v = tf.variable(t);
    t.dispose();
    vars.push(v);
    return v;
  };
  const layers = tfWeights(s, init).map(([w, b], i) => ({
    w: keep(w),
    b: keep(b),
    norm: bn && i < s.sizes.length - 1 ? { gamma: keep(tf.ones([s.sizes[i][1]])), beta: keep(tf.zeros([s.sizes[i][1]])) } : null,
  }));
  const loss = () => {
    let h = x as tf.Tensor2D;
    layers.forEach((l, i) => {
      h = tf.fused.matMul({ a: h, b: l.w as tf.Tensor2D, bias: l.b }) as tf.Tensor2D;
      if (i === layers.length - 1) return;
      if (l.norm) {
        const { mean, variance } = tf.moments(h, 0);
        h = tf.batchNorm(h, mean, variance, l.norm.beta, l.norm.gamma, s.eps) as tf.Tensor2D;
      }
      h = tf.sigmoid(h) as tf.Tensor2D;
    });
    return softmaxCE(y1h, h) as tf.Scalar;
  };
  const opt = tf.train.sgd(s.lr);
  return {
    step: () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(loss, vars);
        opt.applyGradients(grads);
        return value.dataSync()[0];
      }),
    dispose: () => {
      opt.dispose();
      tf.dispose(vars);
    },
  };
}
