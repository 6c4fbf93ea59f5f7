// The runtime's metrics in Prometheus's text format: `cargo run --example metrics`.
// (`metrics-exporter-prometheus` without its default features; serve `render()` from your own
// `/metrics` route, or turn on its `http-listener` feature to have it listen itself.)
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use workflow_rt::prelude::*;

#[activity]
pub async fn greet(_ctx: ActivityCtx, name: String) -> Result<String, ActivityError> {
    Ok(format!("hello, {name}"))
}

#[workflow]
pub async fn welcome(ctx: WorkflowCtx, name: String) -> Result<String, WorkflowError> {
    Ok(ctx.activity(greet, name).await?)
}

/// Installs the recorder, once per process and before the runtime is built (the runtime hands
/// it the description of every metric when it is built).
pub fn install() -> PrometheusHandle {
    PrometheusBuilder::new()
        .install_recorder()
        .expect("the process's only recorder")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prometheus = install();
    let rt = Runtime::builder(MemoryStore::new())
        .workflow(welcome)
        .activity(greet)
        .build()
        .await?;
    let run = rt.start(welcome, "welcome-1", "Ada".to_string()).await?;
    println!("{:?}", run.result().await?);
    rt.shutdown().await;
    // What a scrape of `/metrics` reads: workflow_steps_total, workflow_step_duration_seconds...
    print!("{}", prometheus.render());
    Ok(())
}
