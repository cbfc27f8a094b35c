// A dependency-free SVG bar chart: groups (workloads) of bars (peers) with min–max whiskers.

const COLORS = ['#2b6cb0', '#c05621', '#2f855a', '#6b46c1', '#b83280', '#718096'];

const esc = (s) => String(s).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

function niceMax(value) {
  if (!(value > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * exp >= value) return step * exp;
  return 10 * exp;
}

export function compact(n) {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return `${+n.toFixed(n < 10 ? 2 : 1)}`;
}

/**
 * One panel. `groups` are x labels; `series` are {name}; `value(g, s)` gives {median, min, max}
 * or undefined for a missing bar.
 */
function panel({ x, y, width, height, title, unit, groups, series, value }) {
  const out = [];
  const plotX = x + 60;
  const plotW = width - 70;
  const plotY = y + 28;
  const plotH = height - 70;
  let top = 0;
  for (const g of groups) for (const s of series) top = Math.max(top, value(g, s)?.max ?? 0);
  top = niceMax(top);
  out.push(`<text x="${x}" y="${y + 14}" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    const ty = plotY + plotH - (plotH * i) / 4;
    out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${ty}" y2="${ty}" stroke="#e2e8f0"/>`);
    out.push(`<text x="${plotX - 6}" y="${ty + 4}" font-size="11" text-anchor="end">${compact(v)}</text>`);
  }
  out.push(`<text x="${x + 10}" y="${plotY + plotH / 2}" font-size="11" transform="rotate(-90 ${x + 10} ${plotY + plotH / 2})" text-anchor="middle">${esc(unit)}</text>`);
  const groupW = plotW / Math.max(groups.length, 1);
  const barW = Math.min(36, (groupW * 0.8) / Math.max(series.length, 1));
  groups.forEach((g, gi) => {
    const gx = plotX + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const v = value(g, s);
      if (!v) return;
      const bx = gx + si * barW;
      const h = (plotH * v.median) / top;
      out.push(`<rect x="${bx + 2}" y="${plotY + plotH - h}" width="${barW - 4}" height="${h}" fill="${COLORS[si % COLORS.length]}"><title>${esc(`${s.name}: ${compact(v.median)} ${unit}`)}</title></rect>`);
      if (v.max > v.min) {
        const cx = bx + barW / 2;
        const y1 = plotY + plotH - (plotH * v.max) / top;
        const y2 = plotY + plotH - (plotH * v.min) / top;
        out.push(`<line x1="${cx}" x2="${cx}" y1="${y1}" y2="${y2}" stroke="#1a202c"/>`);
        out.push(`<line x1="${cx - 4}" x2="${cx + 4}" y1="${y1}" y2="${y1}" stroke="#1a202c"/><line x1="${cx - 4}" x2="${cx + 4}" y1="${y2}" y2="${y2}" stroke="#1a202c"/>`);
      }
      const labelY = plotY + plotH - (plotH * Math.max(v.median, v.max)) / top - 4;
      out.push(`<text x="${bx + barW / 2}" y="${labelY}" font-size="10" text-anchor="middle">${compact(v.median)}</text>`);
    });
    out.push(`<text x="${plotX + gi * groupW + groupW / 2}" y="${plotY + plotH + 16}" font-size="11" text-anchor="middle">${esc(g)}</text>`);
  });
  out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${plotY + plotH}" y2="${plotY + plotH}" stroke="#4a5568"/>`);
  return out.join('\n');
}

/** Panels stacked vertically under one legend. */
export function chart({ title, series, panels }) {
  const width = 900;
  const panelH = 260;
  const legendH = 48;
  const height = legendH + panels.length * panelH + 10;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="16" font-weight="bold">${esc(title)}</text>`,
  ];
  let lx = 10;
  series.forEach((s, i) => {
    out.push(`<rect x="${lx}" y="30" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${lx + 16}" y="40" font-size="12">${esc(s.name)}</text>`);
    lx += 30 + s.name.length * 7;
  });
  panels.forEach((p, i) => out.push(panel({ ...p, series, x: 10, y: legendH + i * panelH, width: width - 20, height: panelH })));
  out.push(`<text x="${width - 10}" y="${height - 4}" font-size="10" text-anchor="end" fill="#4a5568">bars: median over rounds; whiskers: min–max</text>`);
  out.push('</svg>');
  return out.join('\n');
}
