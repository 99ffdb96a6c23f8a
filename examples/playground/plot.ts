// A small hand-drawn line plot on a <canvas>: axes, ticks, a title, a legend, one line per series.
export interface Series {
  label: string;
  color: string;
  points: [number, number][];
}
export interface PlotOptions {
  title: string;
  xMax: number;
  yMin: number;
  yMax: number;
}

const niceStep = (range: number, ticks: number) => {
  const raw = range / ticks,
    p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
};

export function drawPlot(canvas: HTMLCanvasElement, series: Series[], o: PlotOptions): void {
  const ctx = canvas.getContext('2d')!;
  const W = canvas.width,
    H = canvas.height;
  const L = 44,
    R = 10,
    T = 24,
    B = 30;
  const x = (v: number) => L + (v / o.xMax) * (W - L - R);
  const y = (v: number) => T + (1 - (Math.min(Math.max(v, o.yMin), o.yMax) - o.yMin) / (o.yMax - o.yMin)) * (H - T - B);
  ctx.clearRect(0, 0, W, H);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#222';
  ctx.textAlign = 'left';
  ctx.fillText(o.title, L, 14);
  // grid and ticks
  ctx.strokeStyle = '#e6e6e6';
  ctx.lineWidth = 1;
  ctx.fillStyle = '#666';
  const ys = niceStep(o.yMax - o.yMin, 5);
  ctx.textAlign = 'right';
  for (let v = o.yMin; v <= o.yMax + 1e-9; v += ys) {
    ctx.beginPath();
    ctx.moveTo(L, y(v) + 0.5);
    ctx.lineTo(W - R, y(v) + 0.5);
    ctx.stroke();
    ctx.fillText(String(+v.toFixed(2)), L - 5, y(v) + 4);
  }
  const xs = niceStep(o.xMax, 5);
  ctx.textAlign = 'center';
  for (let v = 0; v <= o.xMax + 1e-9; v += xs) {
    ctx.beginPath();
    ctx.moveTo(x(v) + 0.5, T);
    ctx.lineTo(x(v) + 0.5, H - B);
    ctx.stroke();
    ctx.fillText(String(v), x(v), H - B + 14);
  }
  ctx.fillText('step', (L + W - R) / 2, H - 4);
  ctx.strokeStyle = '#999';
  ctx.strokeRect(L + 0.5, T + 0.5, W - L - R, H - T - B);
  // lines (a NaN ends a line: a diverged run)
  ctx.lineWidth = 2;
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.beginPath();
    let pen = false;
    for (const [px, py] of s.points) {
      if (!Number.isFinite(py)) {
        pen = false;
        continue;
      }
      if (pen) ctx.lineTo(x(px), y(py));
      else ctx.moveTo(x(px), y(py));
      pen = true;
    }
    ctx.stroke();
  }
  // legend
  ctx.textAlign = 'left';
  series.forEach((s, i) => {
    const lx = W - R - 150 + i * 75;
    ctx.fillStyle = s.color;
    ctx.fillRect(lx, 7, 14, 3);
    ctx.fillStyle = '#222';
    ctx.fillText(s.label, lx + 18, 12);
  });
}
