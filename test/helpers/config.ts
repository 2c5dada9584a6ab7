/**
 * config.ts (test helper): the problem lines a configuration text is rejected with.
 */
import assert from 'node:assert/strict';
import { parseConfigText } from '../../src/config/load';
import { ProvError } from '../../src/errors';

/** configProblems returns the detail lines of the ProvError the text is rejected with; [] when valid. */
export function configProblems(yaml: string): string[] {
  try {
    parseConfigText(yaml, 'c.yaml');
  } catch (err) {
    assert.ok(err instanceof ProvError, String(err));
    return [...err.details];
  }
  return [];
}
