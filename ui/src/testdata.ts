// Snapshot parts for the page's tests (imported by *.test.ts only, never by the page).

import type { ClusterView, ModelView, NodeView, ServiceStatus, Snapshot, ThisNode } from "./types";

export const GB = 1024 ** 3;

export function node(name: string, availableGb: number, extra: Partial<NodeView> = {}): NodeView {
  return {
    name,
    node_id: `id-${name}`,
    chip: "Apple M4 Pro",
    hardware_model: "Mac mini",
    memory_total_bytes: 64 * GB,
    memory_available_bytes: availableGb * GB,
    power_watts: 20,
    gpu_usage: 0.1,
    temp_c: null,
    rdma_enabled: true,
    is_this_node: false,
    last_seen_s: 1,
    stale: false,
    thunderbolt_speed_gbps: 80,
    thunderbolt_ports: [],
    thunderbolt_bridge_enabled: false,
    os_version: "26.2",
    os_build: null,
    disk_total_bytes: null,
    disk_available_bytes: null,
    backends: [],
    ...extra,
  };
}

export function model(id: string, instance: string): ModelView {
  return { id, instance_id: instance, state: "ready", progress: null, download_speed_bytes_per_s: null, eta_ms: null, shards: [], error: null };
}

export function cluster(nodes: NodeView[], models: ModelView[] = []): ClusterView {
  return {
    this_node_id: "id-studio-1",
    nodes,
    links: [{ from: "studio-1", to: "mini-2", kind: "rdma", kinds: ["rdma"], speed_gbps: 80, slow: false }],
    memory_total_bytes: nodes.length * 64 * GB,
    memory_available_bytes: 0,
    power_watts: null,
    models,
    warnings: [],
    unknown: [],
    held_ms: null,
    pool: null,
    last_event_applied_idx: null,
    frozen_for_s: null,
  };
}

export const thisNode: ThisNode = {
  thunderbolt: [{ socket: "1", link_up: true, speed_gbps: 80, lanes: 2, per_lane_gbps: 40, asymmetric: false, tb5_capable: true, peer: "mini-2", peer_is_host: true, peer_domain_uuid: null, interface: "en2", rdma_active: true, slow: false }],
  probed_os: "linux",
  rdma: { status: "enabled", detail: null },
  bridge: { present: false, members: [], active: false, service_enabled: null, ips: [] },
  power_watts: null,
  cpu_power_watts: null,
  gpu_power_watts: null,
  gpu_temp_c: null,
  source_errors: [],
  power_source: null,
  power_unavailable_reason: null,
  gpu_usage: null,
  temp_c: null,
  gpu_wired_limit_bytes: null,
  gpu_wired_limit_estimated: false,
  name: "studio-1",
  os: "Linux",
  os_build: null,
  chip: null,
  cpu_cores: 8,
  arch: "x86_64",
  memory: { total_bytes: 64 * GB, used_bytes: 10 * GB, available_bytes: 54 * GB, wired_bytes: null, compressed_bytes: null, swap_total_bytes: 0, swap_used_bytes: 0, pressure: null },
};


const service = (state: ServiceStatus["state"]): ServiceStatus => ({
  state,
  executable: null,
  pids: [],
  child_processes: 0,
  version: null,
  detail: null,
  supervised: null,
});

/** A whole Snapshot: this Mac in a three-box cluster, exo stopped, one warning. */
export function snapshot(): Snapshot {
  return {
    schema: 1,
    taken_at_unix_ms: Date.now(),
    state: "degraded",
    this_node: thisNode,
    services: { exo: service("stopped"), porten: service("not_installed") },
    warnings: [{ code: "tb_link_slow", scope: "this_mac", severity: "warning", message: "slow link to mini-3", fix: "use a TB5 cable" }],
    cluster: cluster([node("studio-1", 40, { is_this_node: true }), node("mini-2", 50), node("mini-3", 60)], [model("m/one", "inst-a")]),
    events: [],
    porten_agent: null,
    porten_hub: null,
    porten_app: null,
    porten_tokens: null,
    energy: null,
  };
}
