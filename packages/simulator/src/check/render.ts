/**
 * A history as one self-contained HTML page: a lane per client, each op a bar from its call
 * to its return (an indeterminate op runs dashed to the end of the history). For a violation,
 * the ops of the longest linearizable prefix found are green and numbered in linearization
 * order, and the ops that could not follow it are red; the rest are grey. Hovering a bar shows
 * the op. No script, no external resources.
 */
import type { ModelOperation } from '../model.js';
import type { CheckResult } from './search.js';

export interface RenderOptions {
  readonly title: string;
  readonly describe: (op: ModelOperation<unknown, unknown>) => string;
}

const LANE_HEIGHT = 28;
const LABEL_WIDTH = 120;
const PLOT_WIDTH = 1100;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

export function renderHistoryHtml(history: readonly ModelOperation<unknown, unknown>[], result: CheckResult, options: RenderOptions): string {
  const clients = [...new Set(history.map((op) => op.clientId))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const laneOf = new Map(clients.map((client, lane) => [client, lane]));
  const times = history.flatMap((op) => (op.returnMs === null ? [op.callMs] : [op.callMs, op.returnMs]));
  const startMs = times.length > 0 ? Math.min(...times) : 0;
  const endMs = times.length > 0 ? Math.max(...times) : 1;
  const spanMs = Math.max(endMs - startMs, 1e-9);
  const x = (timeMs: number): number => LABEL_WIDTH + ((timeMs - startMs) / spanMs) * PLOT_WIDTH;
  const violation = result.verdict === 'not-linearizable' ? result : null;
  const prefixOrder = new Map((violation?.prefixIds ?? []).map((id, index) => [id, index + 1]));
  const blocked = new Set(violation?.blockedIds ?? []);
  const inPart = new Set(violation?.partOperationIds ?? []);
  const bars = history.map((op) => {
    const lane = laneOf.get(op.clientId)!;
    const x1 = x(op.callMs);
    const x2 = Math.max(x(op.returnMs ?? endMs), x1 + 3);
    const y = 10 + lane * LANE_HEIGHT;
    const order = prefixOrder.get(op.id);
    const role = blocked.has(op.id) ? 'blocked' : order !== undefined ? 'prefix' : violation !== null && !inPart.has(op.id) ? 'other-part' : 'plain';
    const dash = op.returnMs === null ? ' stroke-dasharray="4 3"' : '';
    const label = order !== undefined ? `<text x="${x1 + 2}" y="${y + 13}">${order}</text>` : '';
    return `<g class="op ${role}" data-id="${op.id}"><title>${escapeHtml(options.describe(op))}</title><rect x="${x1.toFixed(1)}" y="${y}" width="${(x2 - x1).toFixed(1)}" height="18"${dash}/>${label}</g>`;
  });
  const laneLabels = clients.map((client, lane) => `<text class="lane" x="4" y="${23 + lane * LANE_HEIGHT}">client ${escapeHtml(client)}</text>`);
  const height = 20 + clients.length * LANE_HEIGHT;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(options.title)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; }
svg text { font-size: 11px; }
.op rect { fill: #bbb; stroke: #666; }
.op.prefix rect { fill: #8fd18f; stroke: #2a7a2a; }
.op.blocked rect { fill: #f08080; stroke: #a00; stroke-width: 2; }
.op.other-part rect { fill: #e8e8e8; stroke: #bbb; }
.legend span { display: inline-block; padding: 0 .5em; margin-right: .5em; border: 1px solid #666; }
li.blocked { color: #a00; }
</style></head><body>
<h1>${escapeHtml(options.title)}</h1>
<p class="verdict">${escapeHtml(verdictLine(result))}</p>
<p class="legend"><span style="background:#8fd18f">longest linearizable prefix (numbered in order)</span><span style="background:#f08080">could not follow it</span><span style="background:#bbb">other ops</span> dashed: indeterminate</p>
<svg xmlns="http://www.w3.org/2000/svg" width="${LABEL_WIDTH + PLOT_WIDTH + 20}" height="${height}">
${laneLabels.join('\n')}
${bars.join('\n')}
</svg>
${violation === null ? '' : explanationList(violation)}
</body></html>
`;
}

function verdictLine(result: CheckResult): string {
  const counts = `${result.operationCount} ops in ${result.partCount} parts`;
  if (result.verdict === 'linearizable') return `linearizable (${counts})`;
  if (result.verdict === 'unknown') return `unknown: ${result.reason} (${counts})`;
  return `not linearizable (${counts}): ${result.explanation}`;
}

function explanationList(violation: Extract<CheckResult, { verdict: 'not-linearizable' }>): string {
  const prefix = violation.prefixDescribed.map((text) => `<li>${escapeHtml(text)}</li>`).join('');
  const blocked = violation.blockedDescribed.map((text) => `<li class="blocked">${escapeHtml(text)}</li>`).join('');
  return `<h2>Longest linearizable prefix (part ${violation.part})</h2><ol class="prefix">${prefix}</ol>
<h2>Could not follow it</h2><ul class="blocked">${blocked}</ul>`;
}
