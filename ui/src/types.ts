// The page's types. The Snapshot and everything it holds are generated from the Rust model
// (crates/model, ts-rs) into ./generated/ and only re-exported here, so they cannot drift; the
// rest (meter, bench, join, login, settings) is still written by hand below.

export type { AgentStatus } from "./generated/AgentStatus";
export type { BoxRow } from "./generated/BoxRow";
export type { ClusterRow } from "./generated/ClusterRow";
export type { ClusterView } from "./generated/ClusterView";
export type { EnergyFigures } from "./generated/EnergyFigures";
export type { EnergyWindow } from "./generated/EnergyWindow";
export type { HubCheck } from "./generated/HubCheck";
export type { KeySource } from "./generated/KeySource";
export type { LinkKind } from "./generated/LinkKind";
export type { LinkView } from "./generated/LinkView";
export type { MemoryInfo as Memory } from "./generated/MemoryInfo";
export type { MemoryPressure as Pressure } from "./generated/MemoryPressure";
export type { ModelRow } from "./generated/ModelRow";
export type { OllamaBox } from "./generated/OllamaBox";
export type { OllamaLoadedModel } from "./generated/OllamaLoadedModel";
export type { OllamaView } from "./generated/OllamaView";
export type { ModelView } from "./generated/ModelView";
export type { NodeView } from "./generated/NodeView";
export type { Pool } from "./generated/Pool";
export type { PortenApp } from "./generated/PortenApp";
export type { Series } from "./generated/Series";
export type { ServiceState } from "./generated/ServiceState";
export type { ServiceStatus } from "./generated/ServiceStatus";
export type { ShardView } from "./generated/ShardView";
export type { Snapshot } from "./generated/Snapshot";
export type { SupervisedStatus } from "./generated/SupervisedStatus";
export type { ThisNode } from "./generated/ThisNode";
export type { ThunderboltPort } from "./generated/ThunderboltPort";
export type { TrayState } from "./generated/TrayState";
export type { Warming } from "./generated/Warming";
export type { Warning } from "./generated/Warning";
export type { WarningCode } from "./generated/WarningCode";
export type { WarningScope } from "./generated/WarningScope";

/** clusterbar-meter `ClientStats`: what a client with its own listener (the Porten agent) was served. */
export interface ClientStats {
  client: string;
  requests: number;
  tokens_today: number;
  tokens_total: number;
  since: string | null;
  days: { date: string; tokens: number }[];
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

/** One extra listener of the meter with its own upstream (settings' meter_routes). */
export interface RouteStats extends Aggregate {
  name: string;
  listen: string;
  upstream: string;
  serve_lan: boolean;
  problem?: string;
  server_tokens_per_s?: number;
}

export interface MeterStats {
  upstream: string;
  generated_unix_ms: number;
  cluster: Aggregate;
  models: (Aggregate & { id: string })[];
  routes?: RouteStats[];
  warnings?: { code: string; message: string }[];
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

/** `run_ollama_benchmark`: one row per box × model (clusterbar-meter `bench::BoxesBenchReport`). */
export interface BoxesBenchReport {
  engine: "openai" | "ollama";
  runs: number;
  boxes: { address: string; url: string; is_local: boolean; problem?: string; models: ModelBench[] }[];
}

export interface BenchProgress {
  model: string;
  request: number;
  requests: number;
}
