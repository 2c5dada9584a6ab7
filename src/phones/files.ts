/**
 * files.ts: which template name a phone file is rendered from.
 *
 * The lookup chain (src/templates/lookup.ts) starts from the requested file's own name, so a
 * per-device custom template (`custom/0015654aa937.cfg.tpl`) always wins. A vendor with more than
 * one per-device file needs one more step, or every per-device file would fall through to the
 * vendor's `base.tpl`, the one with the SIP passwords: a per-device file without a template of
 * its own is rendered from the template named after its profile pattern when one exists
 * (`{mac}.boot.tpl`, `snom{model}-{MAC}.htm.tpl`, custom before shipped), and from its own name
 * (model template, then `base.tpl`) otherwise. Pure apart from the lookup's `find`.
 */
import type { TemplateLookup } from '../templates/lookup';
import type { FilePattern } from './profile';

/**
 * templateFileFor returns the file name to hand to `lookup.render` for `file` (named from
 * `pattern`): `file` when `<file>.tpl` exists, else `pattern.source` when `<pattern>.tpl` exists,
 * else `file` (its model template or `base.tpl`).
 */
export function templateFileFor(lookup: Pick<TemplateLookup, 'find'>, pattern: FilePattern, file: string): string {
  if (lookup.find(file, undefined)?.name === `${file}.tpl`) return file;
  if (pattern.source !== file && lookup.find(pattern.source, undefined)?.name === `${pattern.source}.tpl`) return pattern.source;
  return file;
}

/**
 * commonTemplateFileFor returns the file name to hand to `lookup.render` for the common file
 * `file` (named from the common `pattern`, e.g. `y0000000000{hwid}.cfg`): `file` when
 * `<file>.tpl` exists, else `pattern.source` when `<pattern>.tpl` exists (custom before shipped
 * in both), else undefined: a common file is the same for many phones, so it never falls
 * through to a model template or to `base.tpl` (the per-device file with the passwords); the
 * caller answers 404.
 */
export function commonTemplateFileFor(lookup: Pick<TemplateLookup, 'find'>, pattern: FilePattern, file: string): string | undefined {
  if (lookup.find(file, undefined)?.name === `${file}.tpl`) return file;
  if (lookup.find(pattern.source, undefined)?.name === `${pattern.source}.tpl`) return pattern.source;
  return undefined;
}
