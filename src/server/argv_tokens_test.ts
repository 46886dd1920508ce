import { parseArgs } from "node:util";
import { assertEquals } from "../testing/assert.ts";
import { type FlagShape, tokenizeArgv } from "./argv_tokens.ts";

const FLAGS: Record<string, FlagShape> = {
  "config-path": { type: "string", short: "c" },
  "log-level": { type: "string", short: "l" },
  "help": { type: "boolean", short: "h" },
  "disable-hot-restart": { type: "boolean" },
  "verbose": { type: "boolean", short: "v" },
};

Deno.test("argv tokens are exactly node:util parseArgs' (non-strict, tokens)", () => {
  const cases = [
    ["-c", "envoy.yaml", "--log-level", "debug"],
    ["--config-path=envoy.yaml", "-ldebug", "--disable-hot-restart"],
    ["-c"],
    ["--log-level"],
    ["--unknown", "x", "-z", "--unknown2=3"],
    ["-vh", "-vc", "file", "-vcfile"],
    ["--help=yes", "positional", "--", "-c", "x"],
    ["-", "--", "--"],
    ["-c", "--log-level", "x"],
  ];
  for (const argv of cases) {
    const { tokens } = parseArgs({
      args: argv,
      options: FLAGS,
      strict: false,
      allowPositionals: true,
      tokens: true,
    });
    assertEquals(tokenizeArgv(argv, FLAGS), tokens, argv.join(" "));
  }
});
