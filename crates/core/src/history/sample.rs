//! The recorder's [`Sample`] from what a caller has: a Snapshot (the boxes and their power) and
//! the meter's stats (tokens, TTFT, requests, per model). One conversion for the app,
//! `clusterbar serve` and `clusterbar meter`, so they record the same figures.

use super::{BoxSample, ClusterSample, ModelSample, Sample};
use crate::porten::tokens::PORTEN_CLIENT;
use crate::Snapshot;
use clusterbar_meter::stats::MeterStats;

/// Boxes come from exo's view of the cluster, else this Mac alone; the cluster's figures from
/// the meter. Either may be missing (`clusterbar meter` has no Snapshot).
pub fn sample_from(snapshot: Option<&Snapshot>, stats: Option<&MeterStats>, at_unix_s: u64) -> Sample {
    let mut sample = Sample {
        at_unix_s,
        ..Sample::default()
    };
    if let Some(snapshot) = snapshot {
        match snapshot.cluster.as_ref().filter(|c| !c.nodes.is_empty()) {
            Some(cluster) => {
                sample.boxes = cluster
                    .nodes
                    .iter()
                    .map(|n| BoxSample {
                        name: n.name.clone(),
                        memory_used_bytes: n
                            .memory_total_bytes
                            .zip(n.memory_available_bytes)
                            .map(|(t, a)| t.saturating_sub(a)),
                        memory_total_bytes: n.memory_total_bytes,
                        power_watts: n.power_watts,
                        gpu_usage: n.gpu_usage,
                        temp_c: n.temp_c,
                    })
                    .collect();
                sample.cluster.power_watts = cluster.power_watts;
            }
            None => {
                let this = &snapshot.this_node;
                sample.boxes = vec![BoxSample {
                    name: this.host.name.clone(),
                    memory_used_bytes: this.memory.as_ref().map(|m| m.used_bytes),
                    memory_total_bytes: this.memory.as_ref().map(|m| m.total_bytes),
                    power_watts: this.hardware.power_watts,
                    gpu_usage: this.hardware.gpu_usage,
                    temp_c: this.hardware.temp_c,
                }];
                sample.cluster.power_watts = this.hardware.power_watts;
            }
        }
    }
    if let Some(stats) = stats {
        let c = &stats.cluster;
        sample.cluster = ClusterSample {
            tokens_per_s: Some(c.tokens_per_s),
            ttft_p50_ms: c.ttft_p50_ms,
            ttft_p95_ms: c.ttft_p95_ms,
            requests: Some(c.requests),
            errors: Some(c.errors),
            tokens_served: Some(c.completion_tokens),
            porten_tokens: stats
                .clients
                .iter()
                .find(|client| client.client == PORTEN_CLIENT)
                .map(|client| client.tokens_total),
            ..sample.cluster
        };
        sample.models = stats
            .models
            .iter()
            .map(|m| ModelSample {
                id: m.id.clone(),
                tokens_per_s: Some(m.aggregate.tokens_per_s),
                requests: Some(m.aggregate.requests),
                tokens_served: Some(m.aggregate.completion_tokens),
            })
            .collect();
    }
    sample
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterbar_meter::stats::{Aggregate, ClientStats, ModelStats};

    #[test]
    fn the_meter_figures_the_models_and_the_porten_client_become_the_sample() {
        let mut stats = MeterStats::default();
        stats.cluster.completion_tokens = 1234;
        stats.cluster.requests = 7;
        stats.cluster.errors = 1;
        stats.cluster.tokens_per_s = 42.5;
        stats.cluster.ttft_p95_ms = Some(900.0);
        stats.clients.push(ClientStats {
            client: PORTEN_CLIENT.to_owned(),
            tokens_total: 99,
            ..Default::default()
        });
        stats.models.push(ModelStats {
            id: "mlx-community/Qwen3-0.6B-4bit".into(),
            aggregate: Aggregate {
                requests: 5,
                completion_tokens: 1000,
                tokens_per_s: 30.0,
                ..Aggregate::default()
            },
        });
        let sample = sample_from(None, Some(&stats), 1000);
        assert_eq!(sample.at_unix_s, 1000);
        assert!(sample.boxes.is_empty());
        let c = &sample.cluster;
        assert_eq!(
            (c.tokens_served, c.requests, c.errors, c.porten_tokens),
            (Some(1234), Some(7), Some(1), Some(99))
        );
        assert_eq!(
            (c.tokens_per_s, c.ttft_p95_ms, c.power_watts),
            (Some(42.5), Some(900.0), None)
        );
        assert_eq!(
            sample.models,
            vec![ModelSample {
                id: "mlx-community/Qwen3-0.6B-4bit".into(),
                tokens_per_s: Some(30.0),
                requests: Some(5),
                tokens_served: Some(1000),
            }]
        );
    }
}
