import { assertEquals } from "../src/testing/assert.ts";
import { CORPUS, corpusFiles, readExpectations, validateCorpusFile } from "./corpus.ts";

const present = (() => {
  try {
    return Deno.statSync(CORPUS).isDirectory;
  } catch {
    return false;
  }
})();

Deno.test({
  name: present
    ? "corpus: --mode validate matches tests/corpus_expectations.json for every file"
    : "corpus: SKIPPED because ../shared/corpus is absent (a plain clone has no corpus)",
  ignore: !present,
  fn() {
    const expected = readExpectations();
    const files = corpusFiles();
    assertEquals(files, Object.keys(expected).sort(), "corpus files changed: run --update");
    for (const f of files) {
      const o = validateCorpusFile(f);
      // No corpus file may fail for anything but unsupported extensions or fields, or missing files.
      assertEquals(o.errors, undefined, `${f} has errors`);
      assertEquals(Object.keys(o).length === 0 ? "OK" : o, expected[f], f);
    }
  },
});
