/** The entry module of worker isolates: see `worker.ts`. */
import { runWorker } from "./worker.ts";

runWorker(self as unknown as Parameters<typeof runWorker>[0]);
