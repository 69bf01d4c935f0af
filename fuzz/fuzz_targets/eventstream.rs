//! Event-stream frames from bytes that arrive in arbitrary pieces, and frames basalt encodes read
//! back whole. Input: the first byte sets the piece size, the rest is the stream.
#![no_main]

use basalt_wire::eventstream::{self, FrameDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece.max(1));
    let mut decoder = FrameDecoder::new();
    for part in stream.chunks(piece) {
        if decoder.push(part).is_err() {
            break;
        }
    }

    // What basalt encodes, any event type and payload, decodes to itself.
    let (name, payload) = stream.split_at(stream.len().min(usize::from(data[0] % 64)));
    let name = String::from_utf8_lossy(name);
    let frame = eventstream::event_frame(&name, payload);
    let frames = FrameDecoder::new().push(&frame).expect("basalt's own frame decodes");
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].payload().as_ref(), payload);
});
