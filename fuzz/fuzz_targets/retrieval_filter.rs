//! Retrieve's `RetrievalFilter` grammar from any JSON, and matching against metadata.
#![no_main]

use basalt_kb::{AttributeValue, Metadata, RetrievalFilter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(filter) = RetrievalFilter::parse(&value, "filter") else {
        return;
    };
    let mut metadata = Metadata::new();
    metadata.insert("genre".into(), AttributeValue::String("drama".into()));
    metadata.insert("year".into(), AttributeValue::Number(1999.0));
    metadata.insert("live".into(), AttributeValue::Boolean(true));
    metadata.insert(
        "tags".into(),
        AttributeValue::StringList(vec!["a".into(), "b".into()]),
    );
    let _ = filter.matches(&metadata);
    let _ = filter.matches(&Metadata::new());
});
