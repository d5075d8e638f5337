/**
 * docker/prometheus/alerts.yml and docker/grafana/dashboards/maskbridge.json against the code:
 * every metric they name is one Metrics registers (so a rename cannot leave an alert that never
 * fires), every family has a panel, every alert has a severity and a summary; and, where promtool
 * is installed (Debian's `prometheus` package; scripts/install-deps.sh installs it), the rules
 * and the Prometheus config pass `promtool check` and the rule unit tests pass `promtool test rules`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Metrics } from '../../src/metrics/metrics.js';
import { onPath } from '../e2e/support/servers.js';

const DIR = 'docker/prometheus';
const promtool = onPath('promtool');
if (!promtool) console.warn('[alerts] promtool checks skipped: promtool is not installed (apt-get install prometheus; scripts/install-deps.sh does as root)');

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (parse(readFileSync(`${DIR}/alerts.yml`, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups.flatMap((g) => g.rules);

interface Panel {
  type: string;
  title: string;
  targets?: Array<{ expr: string }>;
  panels?: Panel[];
}
const dashboard = JSON.parse(readFileSync('docker/grafana/dashboards/maskbridge.json', 'utf8')) as { panels: Panel[]; templating: { list: Array<{ name: string; query?: unknown }> } };
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
const dashboardExprs = [
  ...panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
  ...dashboard.templating.list.map((v) => JSON.stringify(v.query ?? '')),
];

const metrics = new Metrics();
const families = new Map(metrics.registry.getMetricsAsArray().map((m) => [m.name, (m as unknown as { type: string }).type]));

/** The family a series name belongs to (a histogram's _bucket, _count and _sum are its own). */
function familyOf(series: string): string {
  const base = series.replace(/_(bucket|count|sum)$/, '');
  return families.get(base) === 'histogram' ? base : series;
}
const namesIn = (expr: string) => [...expr.matchAll(/\bmaskbridge_[a-z0-9_]+/g)].map((m) => m[0]);

describe('alert rules and dashboard use only registered metrics', () => {
  it('every maskbridge_* name in alerts.yml is a registered family (or a histogram series of one)', () => {
    const used = rules.flatMap((r) => namesIn(r.expr));
    expect(used.length).toBeGreaterThan(10);
    for (const name of used) expect(families.has(familyOf(name)), `${name} in alerts.yml`).toBe(true);
  });

  it('every maskbridge_* name in the dashboard is registered, and every maskbridge family has a panel', () => {
    const used = new Set(dashboardExprs.flatMap(namesIn).map(familyOf));
    for (const name of used) expect(families.has(name), `${name} in maskbridge.json`).toBe(true);
    for (const name of families.keys()) if (name.startsWith('maskbridge_')) expect(used.has(name), `no panel for ${name}`).toBe(true);
  });

  it('every panel queries the templated datasource; every alert has a severity and a summary', () => {
    for (const p of panels) expect(JSON.stringify((p as unknown as { datasource: unknown }).datasource), p.title).toContain('${datasource}');
    for (const r of rules) {
      expect(r.alert, r.expr).toMatch(/^Maskbridge[A-Za-z]+$/);
      expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
    }
  });
});

describe('docs/observability.md', () => {
  const doc = readFileSync('docs/observability.md', 'utf8');
  it('describes every maskbridge metric family and every alert', () => {
    for (const name of families.keys()) if (name.startsWith('maskbridge_')) expect(doc, name).toContain(`| \`${name}\` |`);
    for (const r of rules) expect(doc, r.alert).toContain(`| \`${r.alert}\` (${r.labels?.severity})`);
  });
});

describe.skipIf(!promtool)('promtool', () => {
  const run = (...args: string[]) => execFileSync(promtool!, args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
  it('check rules: alerts.yml is valid', () => {
    expect(run('check', 'rules', 'alerts.yml')).toContain('SUCCESS');
  });
  it('check config: prometheus.yml is valid and finds the rule file', () => {
    expect(run('check', 'config', 'prometheus.yml')).toContain('SUCCESS');
  });
  it('test rules: the alerts fire on the series in alerts.test.yml, and stay quiet otherwise', () => {
    expect(run('test', 'rules', 'alerts.test.yml')).toContain('SUCCESS');
  });
});
