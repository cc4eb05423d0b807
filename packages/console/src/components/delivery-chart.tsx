import type { DeliverySeries } from '../api/types.js';
import { chartLayout } from '../lib/chart.js';
import { formatCount } from '../lib/format.js';

const WIDTH = 600;
const HEIGHT = 160;

function label(iso: string, bucketSeconds: number): string {
  const d = new Date(iso);
  return bucketSeconds >= 86_400
    ? d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' })
    : d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
}

/** Delivered (stacked under not delivered) per bucket, as SVG: no script, no inline style. */
export function DeliveryChart({ series }: { series: DeliverySeries }) {
  const { bars, max } = chartLayout(series.points, WIDTH, HEIGHT);
  const delivered = series.points.reduce((s, p) => s + p.delivered, 0);
  const notDelivered = series.points.reduce((s, p) => s + p.notDelivered, 0);
  const failed = series.points.reduce((s, p) => s + p.failedAttempts, 0);
  const first = series.points[0];
  const last = series.points.at(-1);
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT + 18}`}
        role="img"
        aria-label={`Deliveries over time: ${delivered} delivered, ${notDelivered} not delivered, ${failed} failed requests`}
        data-delivered={delivered}
        data-not-delivered={notDelivered}
        preserveAspectRatio="none"
      >
        <line x1="0" y1={HEIGHT} x2={WIDTH} y2={HEIGHT} class="axis" />
        <line x1="0" y1={HEIGHT / 2} x2={WIDTH} y2={HEIGHT / 2} class="grid" />
        {bars.map((b) => (
          <g key={b.point.start}>
            <title>
              {label(b.point.start, series.bucketSeconds)}: {b.point.delivered} delivered, {b.point.notDelivered} not delivered, {b.point.failedAttempts} failed requests
            </title>
            {b.deliveredHeight > 0 && <rect class="bar-delivered" x={b.x} y={b.deliveredY} width={b.width} height={b.deliveredHeight} />}
            {b.failedHeight > 0 && <rect class="bar-failed" x={b.x} y={b.failedY} width={b.width} height={b.failedHeight} />}
            {b.point.failedAttempts > 0 && <circle class="dot-failed-attempts" cx={b.x + b.width / 2} cy={HEIGHT + 9} r="3" />}
          </g>
        ))}
      </svg>
      <figcaption>
        <span class="legend legend-delivered">Delivered {formatCount(delivered)}</span>
        <span class="legend legend-failed">Not delivered {formatCount(notDelivered)}</span>
        <span class="legend legend-attempts">Failed requests {formatCount(failed)}</span>
        <span class="meta">
          scale 0–{formatCount(max)} per {series.bucketSeconds >= 3600 ? `${series.bucketSeconds / 3600} h` : `${series.bucketSeconds / 60} min`}
          {first && last && (
            <>
              {' '}
              · {label(first.start, series.bucketSeconds)} – {label(last.start, series.bucketSeconds)}
            </>
          )}
        </span>
      </figcaption>
    </figure>
  );
}
