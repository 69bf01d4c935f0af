//! A Bedrock request as the server takes it apart: route (method + path + query), bind (labels,
//! query, headers, body), validate against the service model, then decode into the generated
//! typed input. Input: `METHOD path?query` on the first line, `name: value` header lines, an
//! empty line, the body.
#![no_main]

use basalt_api::{NotImplemented, RequestContext};
use basalt_service_models::ServiceModels;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;

/// Every operation answers NotImplemented, so dispatch exercises only the typed decoding.
struct Nothing;

impl basalt_api::bedrock::Bedrock for Nothing {
    type Error = NotImplemented;
}
impl basalt_api::bedrock_runtime::BedrockRuntime for Nothing {
    type Error = NotImplemented;
}
impl basalt_api::bedrock_agent::BedrockAgent for Nothing {
    type Error = NotImplemented;
}
impl basalt_api::bedrock_agent_runtime::BedrockAgentRuntime for Nothing {
    type Error = NotImplemented;
}

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split('\n');
    let Some((method, target)) = lines.next().and_then(|l| l.split_once(' ')) else {
        return;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.trim().as_bytes()),
                HeaderValue::from_str(value.trim()),
            ) {
                headers.append(name, value);
            }
        }
    }
    let models = ServiceModels::global();
    let Ok(route) = models.resolve(&method, path, query) else {
        return;
    };
    let Ok(binding) = models.bind_input(&route, &headers, query, body) else {
        return;
    };
    if models.validate(&route, &binding.input).is_err() {
        return;
    }
    let ctx = RequestContext::default();
    let input = binding.input;
    let operation = route.operation;
    futures::executor::block_on(async {
        let _ = match route.service {
            "bedrock" => basalt_api::bedrock::dispatch(&Nothing, &ctx, operation, input)
                .await
                .map(drop),
            "bedrock-runtime" => {
                basalt_api::bedrock_runtime::dispatch(&Nothing, &ctx, operation, input)
                    .await
                    .map(drop)
            }
            "bedrock-agent" => basalt_api::bedrock_agent::dispatch(&Nothing, &ctx, operation, input)
                .await
                .map(drop),
            _ => basalt_api::bedrock_agent_runtime::dispatch(&Nothing, &ctx, operation, input)
                .await
                .map(drop),
        };
    });
});
