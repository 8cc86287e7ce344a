/**
 * The page's controls over a `DemoCluster`: the key-value form, the replica
 * table with its fault buttons, and the live diagram, redrawn a few times a
 * second (not on every event: under load there are thousands per second).
 */
import { diagramCss, renderLegend } from '@vsr/simulator/diagram';
import type { DemoCluster, ReplicaRow } from './demo-cluster.js';
import { describeResult, formOperation } from './kv-form.js';
import type { LiveTimeline } from './timeline.js';

const REDRAW_MS = 250;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Shows the outcome of one form submission and keeps the last few. */
function showOutcome(text: string, failed: boolean): void {
  const result = element('kv-result');
  result.textContent = text;
  result.classList.toggle('error', failed);
  const log = element('kv-log');
  const item = document.createElement('li');
  item.textContent = text;
  log.prepend(item);
  while (log.childElementCount > 20) log.lastElementChild?.remove();
}

export function wireForm(cluster: DemoCluster): void {
  const form = element<HTMLFormElement>('kv-form');
  const showFields = () => {
    const action = (form.elements.namedItem('action') as HTMLSelectElement).value;
    form.querySelector<HTMLElement>('.value')!.hidden = action === 'get' || action === 'delete';
    form.querySelector<HTMLElement>('.expected')!.hidden = action !== 'cas';
  };
  form.addEventListener('change', showFields);
  showFields();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const field = (name: string) => {
      const value = data.get(name);
      return typeof value === 'string' ? value : '';
    };
    const parsed = formOperation({ action: field('action'), key: field('key'), value: field('value'), expected: field('expected') });
    if (!parsed.ok) return showOutcome(`refused: ${parsed.reason}`, true);
    const what = `${field('action')} ${JSON.stringify(field('key'))}`;
    cluster.request(parsed.operation).then(
      (result) => showOutcome(`${what}: ${describeResult(result)}`, false),
      (error: unknown) => showOutcome(`${what}: ${error instanceof Error ? error.message : String(error)}`, true),
    );
  });
}

function rowHtml(row: ReplicaRow): string {
  const value = (n: number | null) => (n === null ? '–' : String(n));
  const button = (action: string, label: string, enabled: boolean) =>
    `<button type="button" data-action="${action}" data-replica="${row.replicaId}"${enabled ? '' : ' disabled'}>${label}</button>`;
  const down = row.status === 'down';
  const buttons = row.local
    ? [
        button('crash', 'crash', !down),
        button('restart', 'restart', down),
        button('wipe', 'wipe', true),
        button(row.cut ? 'heal' : 'partition', row.cut ? 'heal' : 'partition', !down),
      ].join('')
    : '<span class="muted">in another tab</span>';
  return (
    `<tr id="replica-${row.replicaId}" class="${down ? 'down' : ''}${row.cut ? ' cut' : ''}" data-status="${escapeHtml(row.status)}">` +
    `<td>r${row.replicaId}</td><td class="status-${escapeHtml(row.status)}">${escapeHtml(row.status)}</td>` +
    `<td>${value(row.viewNumber)}</td><td>${value(row.opNumber)}</td><td>${value(row.commitNumber)}</td>` +
    `<td>${row.primary && !down ? 'primary ★' : down ? '' : 'backup'}</td><td class="faults">${buttons}</td></tr>`
  );
}

export function wireTable(cluster: DemoCluster, notice: (text: string) => void): () => void {
  const body = element('replica-rows');
  body.addEventListener('click', (event) => {
    const target = event.target as HTMLElement;
    const action = target.dataset.action;
    const replicaId = Number(target.dataset.replica);
    if (action === undefined || !Number.isInteger(replicaId)) return;
    const actions: Record<string, (r: number) => Promise<void>> = {
      crash: (r) => cluster.crash(r),
      restart: (r) => cluster.restart(r),
      wipe: (r) => cluster.wipe(r),
      partition: (r) => cluster.partition(r, true),
      heal: (r) => cluster.partition(r, false),
    };
    const done = actions[action];
    if (done === undefined) return;
    target.setAttribute('disabled', '');
    done(replicaId).then(
      () => notice(`r${replicaId}: ${action} done`),
      (error: unknown) => notice(`r${replicaId}: ${action} failed: ${error instanceof Error ? error.message : String(error)}`),
    );
  });
  let last = '';
  return () => {
    const html = cluster.rows().map(rowHtml).join('');
    if (html !== last) body.innerHTML = last = html;
  };
}

/** Draws the diagram (unless `?trace=0` turned it off) and the table now and every REDRAW_MS; returns a function that draws them at once. */
export function wireDiagram(cluster: DemoCluster, timeline: LiveTimeline, windowMs: number, refreshTable: () => void, trace: boolean): () => void {
  const style = document.createElement('style');
  style.textContent = diagramCss();
  document.head.append(style);
  element('legend').innerHTML = renderLegend();
  element('window-s').textContent = String(windowMs / 1000);
  const host = element('diagram-host');
  if (!trace) host.textContent = 'The live diagram is off (?trace=0): the workers post no trace events.';
  const draw = () => {
    refreshTable();
    if (!trace) return;
    const viewPx = Math.max(400, host.clientWidth - 110);
    host.innerHTML = timeline.render(cluster.history(), viewPx);
  };
  draw();
  setInterval(draw, REDRAW_MS);
  return draw;
}
