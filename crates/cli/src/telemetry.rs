//! Logging and tracing setup: JSON or human-readable logs filtered by `log` / `CC_LOG`, and
//! optionally the same spans exported as OpenTelemetry traces over OTLP/HTTP.

use std::io::IsTerminal;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::Config;

/// Keeps the trace exporter alive; flushes pending spans when dropped.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            if let Err(e) = p.shutdown_with_timeout(Duration::from_secs(5)) {
                eprintln!("warning: could not flush traces: {e}");
            }
        }
    }
}

/// Whether everything the process writes must be JSON lines: `log_format = "json"` (as the
/// container image's compose file sets it), where a log collector reads standard output and
/// standard error together. Start-up banners for people (`serve`'s addresses, `worker`'s
/// probe address) are then one JSON object each (with a `message` that still says
/// "listening on …", which scripts look for), and `worker`'s plain "started" line is left
/// out (the `worker started` log event says it). The one exception is a generated
/// first-start admin password, which has nowhere else to go (give the bootstrap password as
/// a file, as the compose file does, to avoid it). `auto` keeps the plain banners.
#[must_use]
pub fn json_only(cfg: &Config) -> bool {
    cfg.log_format == "json"
}

/// Installs the global subscriber. Logs go to stderr so command output on stdout stays clean.
/// Keep the returned guard until the program ends.
pub fn init(cfg: &Config) -> Telemetry {
    let filter = EnvFilter::try_new(&cfg.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match cfg.log_format.as_str() {
        "json" => true,
        "pretty" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json {
        fmt.json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        fmt.compact().boxed()
    };

    let (otel, provider, otel_error) = match otlp(cfg) {
        Ok(Some(provider)) => {
            let tracer = provider.tracer("command-center");
            (
                Some(tracing_opentelemetry::layer().with_tracer(tracer)),
                Some(provider),
                None,
            )
        }
        Ok(None) => (None, None, None),
        Err(e) => (None, None, Some(e)),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init();
    if let Some(e) = otel_error {
        tracing::warn!(error = %e, "OpenTelemetry export is configured but could not start; continuing without it");
    } else if provider.is_some() {
        tracing::info!(endpoint = %cfg.telemetry.otlp_endpoint, "exporting traces over OTLP/HTTP");
    }
    Telemetry { provider }
}

/// The tracer provider, when `telemetry.otlp_endpoint` is set.
fn otlp(cfg: &Config) -> Result<Option<SdkTracerProvider>, String> {
    let t = &cfg.telemetry;
    if t.otlp_endpoint.is_empty() {
        return Ok(None);
    }
    let endpoint = if t.otlp_endpoint.ends_with("/v1/traces") {
        t.otlp_endpoint.clone()
    } else {
        format!("{}/v1/traces", t.otlp_endpoint.trim_end_matches('/'))
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_millis(t.otlp_timeout_ms))
        .build()
        .map_err(|e| e.to_string())?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(t.service_name.clone())
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            t.sample_ratio,
        ))))
        .with_resource(resource)
        .build();
    Ok(Some(provider))
}
