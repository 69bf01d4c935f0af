use crate::{Metrics, Role, StopReason, TokenUsage};

/// One event of a streamed answer, in ConverseStream's order:
/// `MessageStart`, then per block `ContentBlockDelta`* and `ContentBlockStop`,
/// then `MessageStop` and finally `Metadata`.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    MessageStart { role: Role },
    ContentBlockDelta { index: u32, text: String },
    ContentBlockStop { index: u32 },
    MessageStop { stop_reason: StopReason, stop_sequence: Option<String> },
    Metadata { usage: TokenUsage, metrics: Metrics },
}
