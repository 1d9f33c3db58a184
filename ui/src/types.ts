// The Snapshot as clusterbar-core serialises it (see README "Snapshot JSON").

export type ServiceState = "not_installed" | "stopped" | "running";
export type TrayState = "stopped" | "running" | "degraded";
export type Pressure = "normal" | "warn" | "critical";

export interface Memory {
  total_bytes: number;
  used_bytes: number;
  available_bytes: number;
  wired_bytes: number | null;
  compressed_bytes: number | null;
  swap_total_bytes: number;
  swap_used_bytes: number;
  pressure: Pressure | null;
}

export interface ThunderboltPort {
  socket: string | null;
  link_up: boolean;
  speed_gbps: number | null;
  lanes: number | null;
  per_lane_gbps: number | null;
  asymmetric: boolean;
  tb5_capable: boolean;
  peer: string | null;
  peer_is_host: boolean;
  interface: string | null;
  rdma_active: boolean | null;
  /** Up, to another Mac, below Thunderbolt 5 (the threshold is set in Rust). */
  slow: boolean;
}

export interface ThisNode {
  thunderbolt: ThunderboltPort[];
  rdma: { status: "enabled" | "disabled" | "unsupported" | "unknown"; detail: string | null };
  power_watts: number | null;
  power_source: string | null;
  power_unavailable_reason: string | null;
  gpu_usage: number | null;
  temp_c: number | null;
  gpu_wired_limit_bytes: number | null;
  gpu_wired_limit_estimated: boolean;
  name: string;
  os: string;
  os_build: string | null;
  chip: string | null;
  cpu_cores: number;
  arch: string;
  memory: Memory | null;
}

export interface SupervisedStatus {
  state: "starting" | "running" | "backing_off" | "gave_up" | "stopping" | "stopped" | "adopted";
  pid: number | null;
  started_by_us: boolean;
  uptime_s: number | null;
  restarts: number;
  last_exit: string | null;
  next_restart_in_s: number | null;
  gave_up_reason: string | null;
  last_lines: string[];
  log_path: string;
}

export interface ServiceStatus {
  state: ServiceState;
  executable: string | null;
  pids: number[];
  child_processes: number;
  version: string | null;
  detail: string | null;
  supervised?: SupervisedStatus | null;
}

export interface NodeView {
  name: string;
  node_id: string;
  chip: string | null;
  hardware_model: string | null;
  memory_total_bytes: number | null;
  memory_available_bytes: number | null;
  power_watts: number | null;
  gpu_usage: number | null;
  temp_c: number | null;
  rdma_enabled: boolean | null;
  is_this_node: boolean;
  last_seen_s: number | null;
  /** Not heard from for too long (the threshold is set in Rust). */
  stale: boolean;
  thunderbolt_speed_gbps: number | null;
  thunderbolt_ports: { rdma_interface: string | null; link_speed_text: string | null; speed_gbps: number | null }[];
  thunderbolt_bridge_enabled: boolean | null;
  os_version: string | null;
  os_build: string | null;
  disk_total_bytes: number | null;
  disk_available_bytes: number | null;
  backends: string[];
}

export interface LinkView {
  from: string;
  to: string;
  kind: "rdma" | "thunderbolt" | "ethernet" | "wifi" | "unknown";
  speed_gbps: number | null;
  /** A Thunderbolt/RDMA link below Thunderbolt 5 (the threshold is set in Rust). */
  slow: boolean;
}

export interface ShardView {
  node: string;
  start_layer: number | null;
  end_layer: number | null;
  state: string;
  progress: number | null;
  error: string | null;
}

export interface ModelView {
  id: string;
  instance_id: string;
  state: "downloading" | "loading" | "ready" | "running" | "failed" | "stopping" | "unknown";
  progress: number | null;
  download_speed_bytes_per_s: number | null;
  eta_ms: number | null;
  shards: ShardView[];
  error: string | null;
}

export interface Pool {
  memory_total_bytes: number;
  memory_usable_bytes: number;
  vram_budget_mb: number;
  per_box: { name: string; total_bytes: number; usable_bytes: number; source: "gpu_ceiling" | "fraction" }[];
}

export interface ClusterView {
  nodes: NodeView[];
  links: LinkView[];
  memory_total_bytes: number;
  memory_available_bytes: number;
  /** null when no box reports power (unknown, never 0 W). */
  power_watts: number | null;
  models: ModelView[];
  held_ms: number | null;
  pool: Pool | null;
  last_event_applied_idx: number | null;
  /** Seconds exo's view has not moved (it answers, but nothing is live). */
  frozen_for_s: number | null;
}

export interface Warning {
  code: string;
  severity: "warning" | "error";
  message: string;
  fix: string;
}

export interface Snapshot {
  schema: number;
  taken_at_unix_ms: number;
  state: TrayState;
  this_node: ThisNode;
  services: { exo: ServiceStatus; porten: ServiceStatus };
  warnings: Warning[];
  cluster: ClusterView | null;
  porten_agent: AgentStatus | null;
  /** The loaded models against the Porten Hub while enrolled (catalog with the API key, warming). */
  porten_hub?: HubCheck | null;
  /** The agent Porten's own desktop app runs on this Mac. */
  porten_app?: PortenApp | null;
}

/** clusterbar-core `porten::catalog::Warming`: the Hub's documented warming answer. */
export interface Warming {
  ready: boolean;
  phase: string | null;
  done_mb: number | null;
  total_mb: number | null;
  pct: number | null;
}

export interface HubCheck {
  hub_url: string;
  api_url: string | null;
  api_key: KeySource | null;
  catalog: "checked" | "needs_key" | "key_rejected" | "forbidden" | "unreachable" | "invalid";
  note: string | null;
  offered: string[];
  models: { id: string; offered: boolean | null; closest: string | null; warming: Warming | null; warming_error: string | null }[];
  checked_at_unix_ms: number;
}

export type KeySource = "environment" | "keychain" | "file";

export interface PortenApp {
  pid: number;
  how: "bundle_id" | "executable_path" | "process_name";
  detail: string;
  pids: number[];
}

/** clusterbar-meter `ClientStats`: what a client with its own listener (the Porten agent) was served. */
export interface ClientStats {
  client: string;
  requests: number;
  tokens_today: number;
  tokens_total: number;
  since: string | null;
  days: { date: string; tokens: number }[];
}

export interface AgentStatus {
  logged_in: boolean | null;
  state: "held" | "starting" | "running" | "adopted" | "restarting" | "gave_up" | "stopped";
  pid: number | null;
  uptime_s: number | null;
  hold_reason: string | null;
  env: [string, string][];
  budget: { vram_budget_mb: number; per_box: { name: string; usable_bytes: number }[] } | null;
  models: string[];
  pending_restart_in_s: number | null;
  last_error: string | null;
  restarts: number;
  run_by_porten_app?: boolean;
}

export interface PreflightItem {
  id: string;
  status: "pass" | "warn" | "fail";
  message: string;
  fix: string | null;
}

export type JoinUpdate =
  | { kind: "progress"; progress: { step: string; [k: string]: unknown } }
  | { kind: "joined"; peers: string[] }
  | { kind: "failed"; reason: string };

export type LoginEvent =
  | { event: "prompt"; url: string | null; code: string | null }
  | { event: "suspicious_url"; url: string; reason: string }
  | { event: "browser_opened" }
  | { event: "browser_failed"; [k: string]: unknown }
  | { event: "finished"; result: { kind: string; detail?: string } };

export interface SettingsView {
  settings: {
    start_at_login: boolean;
    exo_path: string | null;
    porten_path: string | null;
    exo_api_port: number;
    [other: string]: unknown;
  };
  path: string;
  problem: string | null;
}

export interface Aggregate {
  requests: number;
  completion_tokens: number;
  tokens_per_s: number;
  in_flight: number;
  requests_per_min: number;
  ttft_p50_ms: number | null;
  ttft_p95_ms: number | null;
  tokens_today: number;
  errors: number;
  unmetered: number;
  client_closed: number;
}

export interface MeterStats {
  upstream: string;
  generated_unix_ms: number;
  cluster: Aggregate;
  models: (Aggregate & { id: string })[];
  history: { end_unix_s: number; interval_s: number; tokens: number[]; models: Record<string, number[]> };
  clients?: ClientStats[];
}

export interface ThroughputUpdate {
  meter_url: string | null;
  error: string | null;
  stats: MeterStats | null;
}

/** min / p50 / p95 / max of a benchmark's successful runs (clusterbar-meter `bench::Summary`). */
export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  max: number;
}

export interface ModelBench {
  model: string;
  runs: number;
  failures: string[];
  ttft_ms: Summary | null;
  decode_tokens_per_s: Summary | null;
  e2e_ms: Summary | null;
  completion_tokens: Summary | null;
  json_fidelity: { asked: number; parsed: number; schema_ok: number; parsed_share: number; schema_share: number };
}

export interface BenchReport {
  url: string;
  prompt: string;
  max_tokens: number;
  models: ModelBench[];
}

export interface BenchProgress {
  model: string;
  request: number;
  requests: number;
}
