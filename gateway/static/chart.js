// Per-final latency chart in inline SVG: one point per final and series, p50/p95 lines.
const LatencyChart = (() => {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 640, H = 220, L = 44, R = 10, T = 10, B = 24;
  function percentile(values, fraction) {
    if (!values.length) return null;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
  }
  function element(name, attributes, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  // points: [{index, lane, latency_ms, engine_ms, queue_wait_ms}]
  function draw(svg, points, summary) {
    svg.replaceChildren();
    const series = [];
    for (const p of points) {
      series.push([p.index, p.latency_ms, p.lane === 'B' ? 'latB' : 'lat', p]);
      if (p.engine_ms != null) series.push([p.index, p.engine_ms, 'eng', p]);
      if (p.queue_wait_ms != null) series.push([p.index, p.queue_wait_ms, 'que', p]);
    }
    const maxY = Math.max(500, ...series.map((s) => s[1])) * 1.1;
    const maxX = Math.max(5, ...points.map((p) => p.index + 1));
    const x = (i) => L + (i + 0.5) * (W - L - R) / maxX;
    const y = (v) => T + (H - T - B) * (1 - v / maxY);
    svg.append(element('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }));
    svg.append(element('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }));
    for (let k = 0; k <= 4; k++) {
      const v = maxY * k / 4;
      svg.append(element('text', { x: 2, y: y(v) + 3 }, `${Math.round(v)} ms`));
    }
    svg.append(element('text', { x: W - 60, y: H - 6 }, 'final #'));
    const latencies = points.filter((p) => p.lane !== 'B').map((p) => p.latency_ms);
    const p50 = percentile(latencies, 0.5), p95 = percentile(latencies, 0.95);
    for (const [value, cls] of [[p50, 'p50'], [p95, 'p95']]) {
      if (value == null) continue;
      svg.append(element('line', { class: cls, x1: L, y1: y(value), x2: W - R, y2: y(value) }));
      svg.append(element('text', { x: W - R - (cls === 'p50' ? 170 : 80), y: y(value) - 3 }, `${cls} ${Math.round(value)} ms`));
    }
    for (const [i, v, cls, p] of series) {
      const dot = element('circle', { class: `pt ${cls}`, cx: x(i), cy: y(v), r: 4, 'data-seq': p.seq });
      dot.append(element('title', {}, `#${i + 1} ${cls}: ${Math.round(v)} ms — ${p.text || ''}`));
      svg.append(dot);
    }
    // p50/p95 of every series (lane A, or the only lane), shown above the chart
    summary.replaceChildren();
    const laneA = points.filter((p) => p.lane !== 'B');
    for (const [key, label] of SERIES) {
      const values = laneA.map((p) => p[key]).filter((v) => v != null);
      if (!values.length) continue;
      const span = document.createElement('span');
      span.className = `stat ${key}`;
      span.dataset.series = key;
      span.dataset.p50 = percentile(values, 0.5);
      span.dataset.p95 = percentile(values, 0.95);
      span.textContent = `${label} p50 ${Math.round(span.dataset.p50)} ms · p95 ${Math.round(span.dataset.p95)} ms`;
      summary.append(span, ' ');
    }
    if (latencies.length) summary.append(`(${latencies.length} finals)`);
  }
  const SERIES = [['latency_ms', 'end of speech → final'], ['engine_ms', 'engine'], ['queue_wait_ms', 'queue wait']];
  return { draw, percentile };
})();
