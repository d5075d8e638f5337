/** Rewrites the generated table in docs/configuration.md from the schema: npx tsx scripts/gen-config-doc.ts */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigDoc } from '../src/config/doc.js';

const file = 'docs/configuration.md';
const text = readFileSync(file, 'utf8');
const start = '<!-- generated:config-table -->';
const end = '<!-- /generated:config-table -->';
const i = text.indexOf(start);
const j = text.indexOf(end);
if (i < 0 || j < 0) throw new Error(`${file} lacks the ${start} markers`);
writeFileSync(file, `${text.slice(0, i + start.length)}\n${renderConfigDoc()}\n${text.slice(j)}`);
