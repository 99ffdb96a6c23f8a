// A 28×28 drawing pad (shown scaled up): pointer strokes paint a soft round brush straight onto the
// model's input grid. pixels() centres the digit on its centre of mass, as MNIST's digits are.
const N = 28;

export class DigitPad {
  private grid = new Float32Array(N * N);
  private last: [number, number] | null = null;
  private ctx: CanvasRenderingContext2D;

  constructor(
    private canvas: HTMLCanvasElement,
    onStroke: () => void,
  ) {
    this.ctx = canvas.getContext('2d')!;
    canvas.addEventListener('pointerdown', (e) => {
      canvas.setPointerCapture(e.pointerId);
      this.last = this.at(e);
      this.paint(this.last, this.last);
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!this.last) return;
      const p = this.at(e);
      this.paint(this.last, p);
      this.last = p;
    });
    const end = () => {
      if (this.last) {
        this.last = null;
        onStroke();
      }
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
    this.render();
  }

  private at(e: PointerEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * N, ((e.clientY - r.top) / r.height) * N];
  }

  /** Paints the segment a→b with a brush of radius ~1.6 pixels (a stroke about 3 pixels wide). */
  private paint(a: [number, number], b: [number, number]): void {
    const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
    const n = Math.max(1, Math.ceil(len * 4));
    for (let k = 0; k <= n; k++) {
      const cx = a[0] + ((b[0] - a[0]) * k) / n,
        cy = a[1] + ((b[1] - a[1]) * k) / n;
      for (let i = Math.floor(cy - 2); i <= Math.ceil(cy + 2); i++) {
        for (let j = Math.floor(cx - 2); j <= Math.ceil(cx + 2); j++) {
          if (i < 0 || j < 0 || i >= N || j >= N) continue;
          const d = Math.hypot(j + 0.5 - cx, i + 0.5 - cy);
          const v = Math.min(1, Math.max(0, 1.6 - d) * 1.25);
          if (v > this.grid[i * N + j]!) this.grid[i * N + j] = v;
        }
      }
    }
    this.render();
  }

  private render(): void {
    const img = this.ctx.createImageData(N, N);
    for (let i = 0; i < N * N; i++) {
      const v = Math.round(this.grid[i]! * 255);
      img.data.set([v, v, v, 255], i * 4);
    }
    this.ctx.putImageData(img, 0, 0);
  }

  empty(): boolean {
    return this.grid.every((v) => v === 0);
  }

  clear(): void {
    this.grid.fill(0);
    this.render();
  }

  /** The drawing as 784 values in [0, 1], shifted so its centre of mass is at the centre. */
  pixels(): Float32Array {
    let m = 0,
      mx = 0,
      my = 0;
    for (let i = 0; i < N; i++)
      for (let j = 0; j < N; j++) {
        const v = this.grid[i * N + j]!;
        m += v;
        mx += v * j;
        my += v * i;
      }
    const out = new Float32Array(N * N);
    if (m === 0) return out;
    const dx = Math.round(13.5 - mx / m),
      dy = Math.round(13.5 - my / m);
    for (let i = 0; i < N; i++)
      for (let j = 0; j < N; j++) {
        const si = i - dy,
          sj = j - dx;
        if (si >= 0 && sj >= 0 && si < N && sj < N) out[i * N + j] = this.grid[si * N + sj]!;
      }
    return out;
  }
}
