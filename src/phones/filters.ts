/**
 * filters.ts: the nunjucks filters of phone templates, handed to createTemplateLookup
 * (`{ filters: PHONE_FILTERS }`): `tz(form)` (src/phones/timezones.ts). `numsort` is in every
 * lookup (src/templates/lookup.ts).
 */
import type { TemplateFilter } from '../templates/lookup';
import { tzFilter } from './timezones';

/** PHONE_FILTERS are the filters every phone template lookup registers. */
export const PHONE_FILTERS: Readonly<Record<string, TemplateFilter>> = Object.freeze({
  tz: (value: unknown, ...args: unknown[]): unknown => tzFilter(value, args[0]),
});
