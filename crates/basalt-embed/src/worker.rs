//! The model's own thread. It waits for a request, drains whatever else is already queued (up to
//! `max_batch` texts), runs the texts through the model in length-sorted passes of at most
//! `max_batch` texts and [`MAX_PASS_TOKENS`] padded tokens (so short texts are not padded to a
//! long one), then answers each request.

use rayon::ThreadPool;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::Receiver;
use tokio::sync::oneshot;

use crate::model::SentenceModel;
use crate::EmbedError;

/// Most padded tokens in one forward pass. Attention scores grow with batch × length² (32 texts
/// of 256 tokens: 100 MB per layer for MiniLM's 12 heads), and every op's output is a fresh
/// allocation, so long texts run in smaller passes to bound memory; short ones still batch fully.
const MAX_PASS_TOKENS: usize = 4096;

/// The request's own token ids back, with one pooled (not yet normalized) vector per text.
pub(crate) type Reply = Result<(Vec<Vec<u32>>, Vec<Vec<f32>>), EmbedError>;

/// A checked, tokenized request waiting for the model.
pub(crate) struct Work {
    pub(crate) sequences: Vec<Vec<u32>>,
    pub(crate) reply: oneshot::Sender<Reply>,
}

pub(crate) fn spawn(
    model: SentenceModel,
    threads: usize,
    max_batch: usize,
    mut queue: Receiver<Work>,
) -> Result<(), EmbedError> {
    // A pool of our own so `threads` holds whatever rayon's global pool is sized to.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("basalt-embed-{i}"))
        .build()
        .map_err(|e| EmbedError::ModelLoad(format!("thread pool: {e}")))?;
    std::thread::Builder::new()
        .name("basalt-embed".to_string())
        .spawn(move || {
            let mut held: Option<Work> = None;
            loop {
                let first = match held.take() {
                    Some(work) => work,
                    None => match queue.blocking_recv() {
                        Some(work) => work,
                        None => break,
                    },
                };
                let mut texts = first.sequences.len();
                let mut batch = vec![first];
                while texts < max_batch {
                    match queue.try_recv() {
                        Ok(work) if texts + work.sequences.len() > max_batch => {
                            // Starts the next batch rather than overflowing this one.
                            held = Some(work);
                            break;
                        }
                        Ok(work) => {
                            texts += work.sequences.len();
                            batch.push(work);
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                run(&model, &pool, max_batch, batch);
            }
        })
        .map_err(|e| EmbedError::ModelLoad(format!("engine thread: {e}")))?;
    Ok(())
}

fn run(model: &SentenceModel, pool: &ThreadPool, max_batch: usize, batch: Vec<Work>) {
    let all: Vec<&[u32]> = batch
        .iter()
        .flat_map(|work| work.sequences.iter().map(Vec::as_slice))
        .collect();
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by_key(|&i| all[i].len());
    let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); all.len()];
    let mut failure = None;
    for chunk in passes(&order, |i| all[i].len(), max_batch, MAX_PASS_TOKENS) {
        let sequences: Vec<&[u32]> = chunk.iter().map(|&i| all[i]).collect();
        match pool.install(|| model.embed(&sequences)) {
            Ok(pooled) => {
                for (&i, vector) in chunk.iter().zip(pooled) {
                    vectors[i] = vector;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, texts = sequences.len(), "embedding forward pass failed");
                failure = Some(e);
                break;
            }
        }
    }
    let mut vectors = vectors.into_iter();
    for work in batch {
        let n = work.sequences.len();
        let reply = match &failure {
            Some(e) => Err(e.clone()),
            None => Ok((work.sequences, vectors.by_ref().take(n).collect())),
        };
        // The caller may have stopped waiting; nothing to do then.
        let _ = work.reply.send(reply);
    }
}

/// Padding a pass may add, beyond its real tokens: a quarter of them plus this many. Past it the
/// next, longer text starts a pass of its own, so sentences are not padded to a long paragraph.
const PADDING_SLACK_TOKENS: usize = 64;

/// Splits length-sorted `order` into forward passes of at most `max_batch` texts and, unless a
/// single text is longer, at most `max_tokens` padded tokens, and cuts a pass where padding to
/// the next text would waste more than a quarter of the work (plus [`PADDING_SLACK_TOKENS`]).
fn passes(
    order: &[usize],
    len: impl Fn(usize) -> usize,
    max_batch: usize,
    max_tokens: usize,
) -> Vec<&[usize]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        let mut real = len(order[start]);
        // Sorted ascending, so the newest text is the longest and sets the padding.
        while end < order.len() && end - start < max_batch {
            let longest = len(order[end]);
            let padded = (end - start + 1) * longest;
            if padded > max_tokens || padded > (real + longest) * 5 / 4 + PADDING_SLACK_TOKENS {
                break;
            }
            real += longest;
            end += 1;
        }
        out.push(&order[start..end]);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passes_respect_the_batch_and_token_limits() {
        let lens = [3, 3, 4, 10, 10, 50];
        let order: Vec<usize> = (0..lens.len()).collect();
        let sizes = |max_batch, max_tokens| -> Vec<usize> {
            passes(&order, |i| lens[i], max_batch, max_tokens)
                .iter()
                .map(|p| p.len())
                .collect()
        };
        // The 50 would pad five short texts to 300 tokens for 80 real ones: it runs alone.
        assert_eq!(sizes(32, 1000), vec![5, 1]);
        assert_eq!(sizes(2, 1000), vec![2, 2, 2]);
        // 3+3+4 fits 12 (3 × 4); adding a 10 would pad to 40.
        assert_eq!(sizes(32, 20), vec![3, 2, 1]);
        // A text longer than the budget still runs, alone.
        assert_eq!(sizes(32, 8), vec![2, 1, 1, 1, 1]);
    }

    #[test]
    fn sentences_are_not_padded_to_a_paragraph() {
        // Nine sentences and the whole paragraph (a guardrail's topic units).
        let lens = [14, 18, 22, 25, 27, 30, 33, 38, 45, 256];
        let order: Vec<usize> = (0..lens.len()).collect();
        let cut = passes(&order, |i| lens[i], 32, 4096);
        assert_eq!(cut.last().unwrap(), &[9], "the paragraph runs alone");
        let padded: usize = cut.iter().map(|p| p.len() * lens[*p.last().unwrap()]).sum();
        let real: usize = lens.iter().sum();
        assert!(
            padded < real * 3 / 2,
            "padded {padded} for {real} real tokens"
        );
        // Texts of one length stay in one pass.
        let same = [128; 20];
        let order: Vec<usize> = (0..same.len()).collect();
        assert_eq!(passes(&order, |i| same[i], 32, 4096).len(), 1);
    }
}
