// failed-files-reporter.mjs: a node:test reporter (Node 20 and 24) that writes the path of every
// test file with a failure, once per file, one per line (a failure no file is named for: a line
// "?"). scripts/run-tests.mjs gives it to each phase beside the spec reporter, to know which files
// to run again alone (see RETRY_MAX).
export default async function* failedFiles(source) {
  const seen = new Set();
  for await (const event of source) {
    if (event.type !== 'test:fail' || event.data.todo) continue;
    const file = typeof event.data.file === 'string' ? event.data.file : '?';
    if (!seen.has(file)) {
      seen.add(file);
      yield `${file}\n`;
    }
  }
}
