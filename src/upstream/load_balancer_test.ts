import { assert, assertEquals } from "../testing/assert.ts";
import { LeastRequestLoadBalancer } from "./least_request_lb.ts";
import { createLoadBalancer, type LbSettings } from "./load_balancer.ts";
import { PrioritySet } from "./priority_set.ts";
import { RandomLoadBalancer } from "./random_lb.ts";
import { RoundRobinLoadBalancer } from "./round_robin_lb.ts";
import { ThreadAwareLoadBalancer } from "./thread_aware_lb.ts";

const lb: LbSettings = {
  healthyPanicThreshold: 50,
  localityWeighted: false,
  choiceCount: 2,
  activeRequestBias: 1,
};

Deno.test("createLoadBalancer builds the cluster's policy", () => {
  const set = new PrioritySet();
  assert(
    createLoadBalancer({ lbPolicy: "ROUND_ROBIN", lb }, set) instanceof RoundRobinLoadBalancer,
  );
  assert(createLoadBalancer({ lbPolicy: "RANDOM", lb }, set) instanceof RandomLoadBalancer);
  assert(
    createLoadBalancer({ lbPolicy: "LEAST_REQUEST", lb }, set) instanceof LeastRequestLoadBalancer,
  );
  for (const lbPolicy of ["RING_HASH", "MAGLEV"]) {
    const hashing = createLoadBalancer({ lbPolicy, lb }, set);
    assert(hashing instanceof ThreadAwareLoadBalancer && hashing.usesHashKey);
  }
});

Deno.test("createLoadBalancer rejects policies not implemented yet", () => {
  for (const policy of ["CLUSTER_PROVIDED", "toString"]) {
    let message = "";
    try {
      createLoadBalancer({ lbPolicy: policy, lb }, new PrioritySet());
    } catch (e) {
      message = (e as Error).message;
    }
    assertEquals(message, `lb_policy ${policy} is not supported yet`);
  }
});
