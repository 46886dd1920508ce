/**
 * `--env-substitution` end to end (beyond Envoy): environment variables in the bootstrap's
 * values, defaults, and `--mode validate` naming each variable left unset with its place.
 */
import { assertEquals } from "../src/testing/assert.ts";
import { runMain, tempFile } from "./helpers.ts";
import { curl, httpConfig, Proxy } from "./proxy.ts";

const CONFIG = httpConfig({
  routes: `- match: { prefix: "/" }
  direct_response: { status: 200, body: { inline_string: "\${DENVOY_TEST_BODY}" } }
  response_headers_to_add:
  - header: { key: x-from-default, value: "\${DENVOY_TEST_UNSET:-the default}" }`,
});

Deno.test("--env-substitution fills values from the environment, with defaults", async () => {
  Deno.env.set("DENVOY_TEST_BODY", "hello from the environment");
  try {
    const p = await Proxy.start(CONFIG, ["--env-substitution"]);
    try {
      const r = await curl(["-i", `http://127.0.0.1:${p.port()}/`]);
      assertEquals(r.out.split("\r\n\r\n")[1], "hello from the environment");
      assertEquals(/x-from-default: (.*)\r\n/.exec(r.out)?.[1], "the default");
    } finally {
      await p.stop();
    }
  } finally {
    Deno.env.delete("DENVOY_TEST_BODY");
  }
});

Deno.test("without --env-substitution, ${...} is plain text (Envoy's behaviour)", async () => {
  Deno.env.set("DENVOY_TEST_BODY", "not used");
  try {
    const p = await Proxy.start(CONFIG);
    try {
      const r = await curl([`http://127.0.0.1:${p.port()}/`]);
      assertEquals(r.out, "${DENVOY_TEST_BODY}");
    } finally {
      await p.stop();
    }
  } finally {
    Deno.env.delete("DENVOY_TEST_BODY");
  }
});

Deno.test("--mode validate names every variable left unset, at file:line:col", async () => {
  const path = tempFile(`static_resources:
  listeners:
  - name: "\${DENVOY_TEST_UNSET_NAME}"
    address:
      socket_address:
        address: 127.0.0.1
        port_value: \${DENVOY_TEST_UNSET_PORT:-0}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: "tcp_\${DENVOY_TEST_UNSET_PREFIX}"
          cluster: c
  clusters:
  - name: c
`);
  const r = await runMain(["--mode", "validate", "--env-substitution", "-c", path]);
  assertEquals(r.code, 1);
  const lines = r.stderr.trim().split("\n");
  assertEquals(lines, [
    `${path}:3:11: static_resources.listeners[0].name: environment variable ` +
    `'DENVOY_TEST_UNSET_NAME' is not set (--env-substitution; \${DENVOY_TEST_UNSET_NAME:-default} gives a default)`,
    `${path}:13:24: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.stat_prefix: ` +
    `environment variable 'DENVOY_TEST_UNSET_PREFIX' is not set (--env-substitution; ` +
    `\${DENVOY_TEST_UNSET_PREFIX:-default} gives a default)`,
    `configuration '${path}' is invalid: 2 errors`,
  ]);
});
