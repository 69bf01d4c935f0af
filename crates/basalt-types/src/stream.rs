use crate::{Metrics, Role, StopReason, TokenUsage};

/// One event of a streamed answer, in ConverseStream's order: `MessageStart`; then per block
/// either text (`ContentBlockDelta`*) or a tool call (`ToolUseStart`, `ToolUseDelta`*), each
/// closed by `ContentBlockStop`; then `MessageStop` and finally `Metadata`.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    MessageStart {
        role: Role,
    },
    ContentBlockDelta {
        index: u32,
        text: String,
    },
    /// A tool call opens block `index`: ConverseStream's `contentBlockStart.start.toolUse`.
    ToolUseStart {
        index: u32,
        tool_use_id: String,
        name: String,
    },
    /// A piece of the tool call's input JSON; the pieces concatenated are the whole input.
    ToolUseDelta {
        index: u32,
        input: String,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageStop {
        stop_reason: StopReason,
        stop_sequence: Option<String>,
    },
    Metadata {
        usage: TokenUsage,
        metrics: Metrics,
    },
}
