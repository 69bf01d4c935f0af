//! botocore's service models as basalt's wire spec.
//!
//! This crate owns the four embedded botocore models (`bedrock`, `bedrock-runtime`,
//! `bedrock-agent`, `bedrock-agent-runtime`, see `models/README.md`) and everything read
//! straight from them: routing a request line to an operation ([`ServiceModels::resolve`]),
//! binding path, query, headers and body into the operation's input
//! ([`ServiceModels::bind_input`]), checking that input against the model's constraints with
//! AWS's messages ([`ServiceModels::validate`]), and the coverage report
//! ([`ServiceModels::coverage`]). It knows nothing of axum, models or Bedrock semantics, and
//! must not depend on any other basalt crate.

mod binding;
mod codegen;
pub mod model;
mod routing;
mod validation;

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

pub use binding::Binding;
pub use routing::{Route, RouteError};
pub use validation::{ValidationError, Violation};

use model::{Operation, ServiceModel};
use routing::{Router, UriPattern};

/// The services basalt serves, in routing priority: when two operations match a request
/// equally well (only the tag operations do), the earlier service wins.
pub const SERVICES: [&str; 4] = [
    "bedrock",
    "bedrock-runtime",
    "bedrock-agent",
    "bedrock-agent-runtime",
];

const EMBEDDED: [&[u8]; 4] = [
    include_bytes!("../models/bedrock.json.gz"),
    include_bytes!("../models/bedrock-runtime.json.gz"),
    include_bytes!("../models/bedrock-agent.json.gz"),
    include_bytes!("../models/bedrock-agent-runtime.json.gz"),
];

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot decompress the {service} model: {source}")]
    Decompress {
        service: &'static str,
        source: std::io::Error,
    },
    #[error("cannot parse the {service} model: {source}")]
    Parse {
        service: &'static str,
        source: serde_json::Error,
    },
    #[error("{service} operation {operation} has an unusable HTTP method {method:?}")]
    BadMethod {
        service: &'static str,
        operation: String,
        method: String,
    },
}

/// One service's share of the operations basalt implements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCoverage {
    pub service: String,
    pub implemented: usize,
    pub total: usize,
    /// Operations not implemented yet, sorted.
    pub missing: Vec<String>,
}

/// The four parsed service models and the router compiled from them.
#[derive(Debug, Clone)]
pub struct ServiceModels {
    services: Vec<(&'static str, ServiceModel)>,
    by_name: HashMap<&'static str, usize>,
    router: Router,
}

static GLOBAL: OnceLock<Result<ServiceModels, ModelError>> = OnceLock::new();

impl ServiceModels {
    /// Parse the embedded models (tens of milliseconds; use [`ServiceModels::global`]).
    pub fn load() -> Result<Self, ModelError> {
        let mut services = Vec::with_capacity(SERVICES.len());
        for (service, gz) in SERVICES.into_iter().zip(EMBEDDED) {
            let mut json = Vec::new();
            flate2::read::GzDecoder::new(gz)
                .read_to_end(&mut json)
                .map_err(|source| ModelError::Decompress { service, source })?;
            let model: ServiceModel = serde_json::from_slice(&json)
                .map_err(|source| ModelError::Parse { service, source })?;
            services.push((service, model));
        }
        let mut router = Router::default();
        for (index, (service, model)) in services.iter().enumerate() {
            for op in model.operations.values() {
                let pattern =
                    UriPattern::compile(index, op).ok_or_else(|| ModelError::BadMethod {
                        service,
                        operation: op.name.clone(),
                        method: op.http.method.clone(),
                    })?;
                router.patterns.push(pattern);
            }
        }
        let by_name = services
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (*name, i))
            .collect();
        Ok(ServiceModels {
            services,
            by_name,
            router,
        })
    }

    /// The process-wide models, parsed on first use.
    pub fn try_global() -> Result<&'static ServiceModels, &'static ModelError> {
        GLOBAL.get_or_init(Self::load).as_ref()
    }

    /// The process-wide models, parsed on first use.
    ///
    /// # Panics
    /// If the embedded models do not parse. They are compiled into the binary and this
    /// crate's tests load them, so that would be a build defect, not a runtime condition;
    /// call [`ServiceModels::try_global`] at startup to report it instead.
    pub fn global() -> &'static ServiceModels {
        match Self::try_global() {
            Ok(models) => models,
            Err(e) => panic!("embedded botocore models are unusable: {e}"),
        }
    }

    /// A service's model by botocore name.
    pub fn service(&self, service: &str) -> Option<&ServiceModel> {
        self.by_name.get(service).map(|&i| &self.services[i].1)
    }

    /// An operation of a service.
    pub fn operation(&self, service: &str, operation: &str) -> Option<&Operation> {
        self.service(service)?.operations.get(operation)
    }

    /// Every `(service, operation)` of the four services.
    pub fn operations(&self) -> impl Iterator<Item = (&str, &str)> {
        self.services.iter().flat_map(|(service, model)| {
            model
                .operations
                .keys()
                .map(move |op| (*service, op.as_str()))
        })
    }

    /// Which operation a request line names.
    pub fn resolve(
        &self,
        method: &http::Method,
        raw_path: &str,
        raw_query: Option<&str>,
    ) -> Result<Route<'_>, RouteError> {
        let unknown = || RouteError::UnknownOperation {
            method: method.to_string(),
            path: raw_path.to_owned(),
        };
        let (index, labels) = self
            .router
            .find(method, raw_path, raw_query)
            .ok_or_else(unknown)?;
        let pattern = &self.router.patterns[index];
        Ok(Route {
            service: self.services[pattern.service].0,
            operation: &pattern.operation,
            labels,
        })
    }

    /// Implemented and missing operations per service, `implemented(service, operation)`
    /// telling which are done.
    pub fn coverage(&self, implemented: impl Fn(&str, &str) -> bool) -> Vec<ServiceCoverage> {
        self.services
            .iter()
            .map(|(service, model)| {
                let missing: Vec<String> = model
                    .operations
                    .keys()
                    .filter(|op| !implemented(service, op))
                    .cloned()
                    .collect();
                ServiceCoverage {
                    service: (*service).to_owned(),
                    implemented: model.operations.len() - missing.len(),
                    total: model.operations.len(),
                    missing,
                }
            })
            .collect()
    }

    /// The pattern that the route's operation was compiled to.
    fn pattern(&self, route: &Route<'_>) -> Option<&UriPattern> {
        let service = *self.by_name.get(route.service)?;
        self.router
            .patterns
            .iter()
            .find(|p| p.service == service && p.operation == route.operation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_models_load_with_expected_protocol() {
        let models = ServiceModels::load().expect("models load");
        for service in SERVICES {
            let model = models.service(service).expect("service present");
            assert_eq!(model.metadata.protocol, "rest-json", "{service}");
            assert_eq!(
                model.metadata.signing_name.as_deref(),
                Some("bedrock"),
                "{service}"
            );
            assert!(!model.operations.is_empty(), "{service}");
        }
        assert!(models.operation("bedrock-runtime", "Converse").is_some());
        assert!(models.operation("bedrock-runtime", "NoSuchThing").is_none());
    }

    #[test]
    fn operations_lists_every_service() {
        let models = ServiceModels::global();
        let total: usize = SERVICES
            .iter()
            .map(|s| models.service(s).map_or(0, |m| m.operations.len()))
            .sum();
        assert_eq!(models.operations().count(), total);
        assert!(models
            .operations()
            .any(|o| o == ("bedrock-agent-runtime", "Retrieve")));
        assert!(models
            .operations()
            .any(|o| o == ("bedrock", "ListFoundationModels")));
    }

    #[test]
    fn coverage_counts_implemented_and_missing() {
        let models = ServiceModels::global();
        let report = models.coverage(|service, op| {
            service == "bedrock-runtime" && (op == "Converse" || op == "InvokeModel")
        });
        assert_eq!(report.len(), 4);
        let runtime = report
            .iter()
            .find(|c| c.service == "bedrock-runtime")
            .expect("runtime row");
        assert_eq!(runtime.implemented, 2);
        assert_eq!(runtime.implemented + runtime.missing.len(), runtime.total);
        assert!(runtime.missing.contains(&"ConverseStream".to_owned()));
        assert!(!runtime.missing.contains(&"Converse".to_owned()));
        let agent = report
            .iter()
            .find(|c| c.service == "bedrock-agent")
            .expect("agent row");
        assert_eq!(agent.implemented, 0);
        assert_eq!(agent.missing.len(), agent.total);
    }
}
