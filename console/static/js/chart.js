/**
 * A bar chart of one value per bucket, drawn as SVG with DOM calls (no library, no
 * markup strings). Each bar has a <title> (shown on hover, read by screen readers) and
 * the chart as a whole has a text summary, so the figure is not only visual. Returns a
 * <div> holding the SVG and its axis labels.
 */

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attributes = {}) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

/**
 * `points`: [{label, value, title}]; `summary`: the text alternative.
 * Heights are relative to the largest value; all zeros draw a flat baseline.
 */
export function barChart(points, summary) {
  const width = 600;
  const height = 180;
  const top = 4;
  const bottom = 1;
  const plotHeight = height - top - bottom;
  const max = Math.max(0, ...points.map((point) => point.value));
  const slot = width / Math.max(points.length, 1);
  const chart = svg('svg', {
    // Stretched to the box: bars may be distorted, so the text labels are HTML below.
    viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', preserveAspectRatio: 'none',
  });
  const title = svg('title');
  title.textContent = summary;
  chart.append(title);
  chart.append(svg('line', { x1: 0, y1: top + plotHeight, x2: width, y2: top + plotHeight, class: 'axis' }));
  points.forEach((point, index) => {
    const barHeight = max > 0 ? (point.value / max) * plotHeight : 0;
    const bar = svg('rect', {
      x: index * slot + slot * 0.15,
      y: top + plotHeight - barHeight,
      width: slot * 0.7,
      height: Math.max(barHeight, 0),
      class: 'bar',
    });
    const barTitle = svg('title');
    barTitle.textContent = point.title;
    bar.append(barTitle);
    chart.append(bar);
  });
  // First and last bucket labels are enough to orient the time axis.
  const axis = document.createElement('div');
  axis.className = 'chart-axis';
  axis.setAttribute('aria-hidden', 'true');
  for (const point of [points[0], points[points.length - 1]]) {
    const label = document.createElement('span');
    label.textContent = point?.label ?? '';
    axis.append(label);
  }
  const wrapper = document.createElement('div');
  wrapper.append(chart, axis);
  return wrapper;
}
