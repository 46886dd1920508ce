import { loadBootstrap } from "./src/config/bootstrap.ts";
import { builtinExtensions } from "./src/extensions/builtin.ts";
const reg = builtinExtensions();
const ts: number[] = [];
for (let i = 0; i < 8; i++) {
  const t = performance.now();
  loadBootstrap({ configPath: "/tmp/hf/big.yaml" }, reg);
  ts.push(performance.now() - t);
}
console.log(ts.map((x) => x.toFixed(0)).join(" "));
