/** The layered runtime through the admin: `/runtime`, `/runtime_modify`, live routing on every worker. */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { curl, httpConfig, parseResponse, Proxy, rawExchange } from "./proxy.ts";

/** One request on a fresh connection (so the kernel spreads them over the workers). */
async function body(port: number): Promise<string> {
  return parseResponse(
    await rawExchange(port, "GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n"),
  ).body;
}

/** `n` requests' bodies, in parallel. */
function bodies(port: number, n: number): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, () => body(port)));
}

/** Polls until every one of a batch of requests answers `want` (workers apply updates async). */
async function eventually(port: number, want: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await bodies(port, 12);
    if (got.every((b) => b === want)) return;
    if (Date.now() > deadline) throw new Error(`expected every answer to be ${want}: ${got}`);
  }
}

Deno.test("runtime_fraction routes follow /runtime_modify on every worker", async () => {
  const disk = Deno.makeTempDirSync();
  Deno.mkdirSync(`${disk}/current/envoy`, { recursive: true });
  Deno.writeTextFileSync(`${disk}/current/envoy/from_disk`, "# a comment\ndisk value\n");
  const yaml = httpConfig({
    routes: `- match:
    prefix: "/"
    runtime_fraction:
      default_value: { numerator: 0 }
      runtime_key: routing.canary
  direct_response: { status: 200, body: { inline_string: canary } }
- match: { prefix: "/" }
  direct_response: { status: 200, body: { inline_string: stable } }`,
  }) + `layered_runtime:
  layers:
  - name: static
    static_layer:
      routing: { canary: 0 }
      other: { flag: true }
  - name: disk
    disk_layer: { symlink_root: ${disk}/current, subdirectory: envoy }
  - name: admin
    admin_layer: {}
`;
  const p = await Proxy.start(yaml, ["--concurrency", "2"]);
  const admin = `http://127.0.0.1:${p.adminPort}`;
  try {
    assert((await bodies(p.port(), 12)).every((b) => b === "stable"));

    // GET is refused and changes nothing.
    const get = await curl(["-i", `${admin}/runtime_modify?routing.canary=100`]);
    assertMatch(get.out, /^HTTP\/1\.1 405/);
    assert((await bodies(p.port(), 6)).every((b) => b === "stable"));

    assertEquals(
      (await curl(["-X", "POST", `${admin}/runtime_modify?routing.canary=100`])).out,
      "OK\n",
    );
    await eventually(p.port(), "canary");

    const rt = JSON.parse((await curl([`${admin}/runtime`])).out);
    assertEquals(rt.layers, ["static", "disk", "admin"]);
    assertEquals(rt.entries["routing.canary"], {
      final_value: "100",
      layer_values: ["0", "", "100"],
    });
    assertEquals(rt.entries["other.flag"].final_value, "true");
    assertEquals(rt.entries.from_disk, {
      final_value: "disk value",
      layer_values: ["", "disk value", ""],
    });

    // Form values work like query parameters; an empty value removes the override.
    const form = await curl(["-X", "POST", "--data", "routing.canary=", `${admin}/runtime_modify`]);
    assertEquals(form.out, "OK\n");
    await eventually(p.port(), "stable");
    const after = JSON.parse((await curl([`${admin}/runtime`])).out);
    assertEquals(after.entries["routing.canary"].layer_values, ["0", "", ""]);

    const usage = await curl(["-i", "-X", "POST", `${admin}/runtime_modify`]);
    assertMatch(usage.out, /^HTTP\/1\.1 400/);
    assertMatch(usage.out, /usage: \/runtime_modify\?key1=value1/);

    const stats = (await curl([`${admin}/stats?filter=^runtime\\.`])).out;
    assertMatch(stats, /^runtime\.num_layers: 3$/m);
    assertMatch(stats, /^runtime\.num_keys: 3$/m);
    assertMatch(stats, /^runtime\.admin_overrides_active: 0$/m);
    assertMatch(stats, /^runtime\.load_success: 3$/m);
    assertMatch(stats, /^runtime\.override_dir_not_exists: 3$/m);
  } finally {
    await p.stop();
    Deno.removeSync(disk, { recursive: true });
  }
});

Deno.test("without an admin layer /runtime_modify is 503; deprecated fields are counted; access_log_path", async () => {
  const log = Deno.makeTempFileSync();
  const p = await Proxy.start(
    httpConfig({ routes: `- match: { prefix: "/" }\n  direct_response: { status: 200 }` })
      .replace("admin:\n", `admin:\n  access_log_path: ${log}\n`),
  );
  const admin = `http://127.0.0.1:${p.adminPort}`;
  try {
    const r = await curl(["-i", "-X", "POST", `${admin}/runtime_modify?a=1`]);
    assertMatch(r.out, /^HTTP\/1\.1 503/);
    assertMatch(r.out, /No admin layer specified$/);
    assertEquals(JSON.parse((await curl([`${admin}/runtime`])).out), { layers: [], entries: {} });
    // admin.access_log_path is deprecated: Envoy warns and counts it.
    await p.proc.waitFor(/Using deprecated option/);
    assertMatch(
      (await curl([`${admin}/stats?filter=deprecated_feature_use`])).out,
      /^runtime\.deprecated_feature_use: 1$/m,
    );
    assertMatch(
      p.proc.stderr,
      /Using deprecated option 'envoy\.config\.bootstrap\.v3\.Admin\.access_log_path'/,
    );
    await p.stop();
    // access_log_path logs admin requests in Envoy's default format.
    assertMatch(
      Deno.readTextFileSync(log),
      /^\[[^\]]+\] "POST \/runtime_modify\?a=1 HTTP\/1\.1" 503 /m,
    );
  } finally {
    await p.stop();
    Deno.removeSync(log);
  }
});
