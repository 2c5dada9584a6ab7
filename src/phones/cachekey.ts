/**
 * cachekey.ts: the key of a rendered phone file in the render cache (issue 12 §3: rendering on
 * request, cached by a hash of its inputs). Pure.
 *
 * The key is the sha256 (hex) of a canonical JSON (every object's keys sorted, arrays in order,
 * no whitespace) of everything that decides the document: a format version, the file name, the
 * model, the templates that were used (each `root/name` as listed by lookup.ts render's `used`,
 * the winner first, with its stamp: mtime/size/inode from TemplateFiles.stamp, or a content
 * hash) and the whole context. Same inputs → same key; any change → another key.
 */
import { createHash } from 'node:crypto';
import { ProvError } from '../errors';
import { JsonShapeError, canonicalJson as canonicalText } from '../json';

/** CACHE_KEY_VERSION changes when what the key covers changes (old keys then never match). */
export const CACHE_KEY_VERSION = 1;

/** UsedTemplate is one template a render read, with the stamp it had then. */
export interface UsedTemplate {
  /** id is `root/name`, e.g. `custom/00085d2eecfb.cfg.tpl`, `shipped/base.tpl`. */
  readonly id: string;
  readonly stamp: string;
}

/** CacheKeyInput is everything that decides one rendered document. */
export interface CacheKeyInput {
  readonly file: string;
  readonly model?: string | undefined;
  /** templates in the order the render used them (the winner first). */
  readonly templates: readonly UsedTemplate[];
  readonly context: unknown;
}

/** canonicalJson writes a JSON-like value with sorted keys (undefined keys left out); refuses what has no stable JSON. */
export function canonicalJson(value: unknown, path = 'value'): string {
  try {
    return canonicalText(value, path, 'skip');
  } catch (err) {
    if (err instanceof JsonShapeError) throw new ProvError('PROVD_ERR_TEMPLATE', err.message);
    throw err;
  }
}

/** renderCacheKey gives the sha256 hex key of a rendered document's inputs. */
export function renderCacheKey(input: CacheKeyInput): string {
  const doc = {
    v: CACHE_KEY_VERSION,
    file: input.file,
    model: input.model ?? null,
    templates: input.templates.map((t) => [t.id, t.stamp]),
    context: input.context,
  };
  return createHash('sha256').update(canonicalJson(doc, 'input')).digest('hex');
}

/** contentStamp is a stamp from a template's text (for trees without a trustworthy mtime). */
export function contentStamp(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}
