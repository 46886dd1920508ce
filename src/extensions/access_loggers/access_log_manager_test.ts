import { assert, assertEquals } from "../../testing/assert.ts";
import type { LogSink } from "./buffered_writer.ts";
import { AccessLogManager } from "./access_log_manager.ts";

function memorySink(): LogSink & { text: string } {
  return {
    text: "",
    write(p) {
      this.text += new TextDecoder().decode(p);
      return Promise.resolve(p.length);
    },
    close() {},
  };
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "<no error>";
}

Deno.test("loggers on one path share one writer, appending to the file", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/access.log`;
  await Deno.writeTextFile(path, "existing\n");
  const m = new AccessLogManager();
  try {
    const a = m.writer(path);
    assert(a === m.writer(path));
    a.write("one\n");
    m.writer(path).write("two\n");
    await m.flush();
    assertEquals(await Deno.readTextFile(path), "existing\none\ntwo\n");
  } finally {
    await m.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("/dev/stdout and /dev/stderr are the process streams", async () => {
  const stdout = memorySink(), stderr = memorySink();
  const m = new AccessLogManager({ stdout, stderr });
  m.writer("/dev/stdout").write("out\n");
  m.writer("/dev/stderr").write("err\n");
  await m.close();
  assertEquals([stdout.text, stderr.text], ["out\n", "err\n"]);
});

Deno.test("reopen() follows logrotate to a fresh file", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/access.log`;
  const m = new AccessLogManager();
  try {
    const w = m.writer(path);
    w.write("old\n");
    await m.flush();
    await Deno.rename(path, `${path}.1`);
    w.write("moved\n");
    await m.reopen();
    w.write("new\n");
    await m.flush();
    assertEquals(await Deno.readTextFile(`${path}.1`), "old\nmoved\n");
    assertEquals(await Deno.readTextFile(path), "new\n");
  } finally {
    await m.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the flush interval comes from the manager's options", async () => {
  const stdout = memorySink();
  const m = new AccessLogManager({ stdout, flushIntervalMs: 5 });
  m.writer("/dev/stdout").write("soon\n");
  await new Promise((r) => setTimeout(r, 50));
  assertEquals(stdout.text, "soon\n");
  await m.close();
});

Deno.test("a file that cannot be opened is a config error naming it", () => {
  const m = new AccessLogManager();
  const message = errorOf(() => m.writer("/nonexistent-dir/x/access.log"));
  assert(message.startsWith("unable to open access log file '/nonexistent-dir/x/access.log': "));
});
