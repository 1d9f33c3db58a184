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

export interface ThisNode {
  name: string;
  os: string;
  os_build: string | null;
  chip: string | null;
  cpu_cores: number;
  arch: string;
  memory: Memory | null;
}

export interface ServiceStatus {
  state: ServiceState;
  executable: string | null;
  pids: number[];
  detail: string | null;
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
}

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
