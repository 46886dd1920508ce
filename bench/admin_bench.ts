/**
 * Admin stats endpoints on a big config (issue #4's target: `/stats/prometheus` with 1,000
 * clusters answers in ≤ 100 ms). Starts denvoy with `routes` routes and `clusters` STATIC
 * clusters (`gen_config.ts`) and `--concurrency 2`, sends a few requests through it so that
 * data-path stats exist in both workers, then times each stats endpoint, sequentially, with
 * curl as the client (what an operator or a scraper sees: request sent to last byte received;
 * Deno's fetch in this process would add its own ~100 ms of reading a 14 MB body to the figure).
 *
 * Usage: `deno run -A bench/admin_bench.ts [clusters=1000] [runs=20]`
 */
import { generateConfig } from "./gen_config.ts";
import { MAIN_TS, ms, REPO_ROOT, summarize } from "./validate_bench.ts";

const READY_TIMEOUT_MS = 30_000;

async function main() {
  const clusters = Number(Deno.args[0] ?? 1000);
  const runs = Number(Deno.args[1] ?? 20);
  const dir = await Deno.makeTempDir({ prefix: "denvoy-admin-bench-" });
  const config = `${dir}/envoy.yaml`;
  const yaml = generateConfig(clusters, clusters).replace("port_value: 10000", "port_value: 0") +
    "admin:\n  address:\n    socket_address: { address: 127.0.0.1, port_value: 0 }\n";
  await Deno.writeTextFile(config, yaml);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", MAIN_TS, "-c", config, "--concurrency", "2"],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => child.kill("SIGKILL"), READY_TIMEOUT_MS);
  try {
    while (!/all 2 workers serving/.test(log)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`denvoy exited before it was ready:\n${log}`);
      log += value;
    }
    clearTimeout(timer);
    // Keep the pipe drained.
    (async () => {
      while (!(await reader.read()).done) { /* discard */ }
    })();
    const admin = Number(/admin address: .*:(\d+)/.exec(log)![1]);
    const port = Number(/'listener_0' on port (\d+)/.exec(log)![1]);
    // Requests to a few clusters (their endpoints refuse: 503 UF) so upstream stats are used.
    for (let i = 0; i < 20; i++) {
      await (await fetch(`http://127.0.0.1:${port}/svc/${i * 4}/x`)).arrayBuffer();
    }
    const lines: string[] = [];
    for (const path of ["/stats/prometheus", "/stats", "/stats?format=json", "/clusters"]) {
      const samples: number[] = [];
      let bytes = 0;
      for (let i = 0; i < runs + 2; i++) {
        const out = await new Deno.Command("curl", {
          args: [
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download} %{time_total}",
            `http://127.0.0.1:${admin}${path}`,
          ],
          stdout: "piped",
          stderr: "null",
        }).output();
        const [status, size, seconds] = new TextDecoder().decode(out.stdout).split(" ");
        if (status !== "200") throw new Error(`${path}: ${status}`);
        bytes = Number(size);
        if (i >= 2) samples.push(Number(seconds) * 1000); // 2 warm-up requests
      }
      const s = summarize(samples);
      lines.push(
        `| \`${path}\` | ${(bytes / 1024).toFixed(0)} KiB | ${ms(s.min)} | ${ms(s.median)} | ` +
          `${ms(s.p90)} | ${ms(s.max)} |`,
      );
    }
    console.log(
      [
        `${clusters} clusters, ${clusters} routes, --concurrency 2; ${runs} requests per ` +
        `endpoint after 2 warm-up requests; ${navigator.hardwareConcurrency} CPUs.`,
        "",
        "| endpoint | body | min | median | p90 | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        ...lines,
      ].join("\n"),
    );
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
