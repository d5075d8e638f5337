/** Renders the config schema as the markdown table in docs/configuration.md (kept in sync by a test). */
import { schema } from './schema.js';

interface Leaf {
  doc: string;
  default: unknown;
  env?: string;
  format: unknown;
  sensitive?: boolean;
}

function isLeaf(node: unknown): node is Leaf {
  return typeof node === 'object' && node !== null && 'doc' in node && 'default' in node;
}

function formatOf(f: unknown): string {
  if (Array.isArray(f)) return f.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (typeof f === 'function') return f.name === 'String' ? 'string' : f.name;
  return String(f);
}

function defaultOf(leaf: Leaf): string {
  if (leaf.sensitive && leaf.default !== '' && !(Array.isArray(leaf.default) && leaf.default.length === 0)) return '(set it)';
  const v = JSON.stringify(leaf.default);
  return v === '""' ? 'empty' : `\`${v.replace(/\|/g, '\\|')}\``;
}

export function renderConfigDoc(): string {
  const rows: string[] = [];
  const walk = (node: Record<string, unknown>, path: string[]) => {
    for (const [key, value] of Object.entries(node)) {
      const p = [...path, key];
      if (isLeaf(value)) {
        rows.push(`| \`${p.join('.')}\` | \`${value.env ?? ''}\` | ${formatOf(value.format)} | ${defaultOf(value)} | ${value.doc.replace(/\|/g, '\\|')} |`);
      } else if (typeof value === 'object' && value !== null) {
        walk(value as Record<string, unknown>, p);
      }
    }
  };
  walk(schema as unknown as Record<string, unknown>, []);
  return ['| key | env | format | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}
