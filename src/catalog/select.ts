// Which files of a repo serving needs. Everything else (README, .bin/.pt
// weights duplicated as safetensors, onnx exports, images) is skipped.

import { CatalogError } from './errors.js';
import type { HubFile } from './hub-api.js';

const SERVING_FILES = new Set([
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'chat_template.json',
]);

function isTopLevel(p: string): boolean {
  return !p.includes('/');
}

/** Files needed to serve a safetensors model from the repo root. */
export function selectServingFiles(repo: string, files: HubFile[]): HubFile[] {
  const chosen = files.filter((f) => isTopLevel(f.path) && (SERVING_FILES.has(f.path) || f.path.endsWith('.safetensors') || f.path.endsWith('.safetensors.index.json')));
  if (chosen.some((f) => f.path.endsWith('.safetensors'))) return chosen;
  const ggufs = files.filter((f) => f.path.endsWith('.gguf'));
  if (ggufs.length === 1 && ggufs[0]) return [ggufs[0]];
  if (ggufs.length > 1) {
    const names = ggufs.map((f) => f.path).slice(0, 12).join(', ');
    throw new CatalogError('HIPSERVE_ERR_CATALOG_NO_FILES', `${repo} has several GGUF files; pick one as ${repo}:<file.gguf> (${names}${ggufs.length > 12 ? ', ...' : ''})`);
  }
  throw new CatalogError('HIPSERVE_ERR_CATALOG_NO_FILES', `${repo} has no *.safetensors or *.gguf weights to serve`);
}

/** The one GGUF file asked for with `org/repo:file.gguf`. */
export function selectGguf(repo: string, files: HubFile[], name: string): HubFile[] {
  const f = files.find((x) => x.path === name);
  if (!f) throw new CatalogError('HIPSERVE_ERR_CATALOG_HUB_NOT_FOUND', `${name} not found in ${repo}`);
  return [f];
}
