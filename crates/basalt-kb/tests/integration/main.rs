//! The knowledge base end to end with the real all-MiniLM-L6-v2 (tokenizer and model): a
//! 15-document corpus with sidecars (tests/data/corpus) is ingested, the index reopened from
//! disk, and questions retrieved with SEMANTIC and HYBRID search, filters and deletes.
//!
//! The model directory is `$BASALT_MODELS_DIR/all-MiniLM-L6-v2`, else
//! /tmp/basalt-models/all-MiniLM-L6-v2. Tests skip (loudly) when it is absent and the variable
//! is unset; with the variable set, a missing model fails them.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use async_trait::async_trait;
use basalt_embed::test_support::model_dir;
use basalt_embed::{EmbeddingConfig, EmbeddingEngine};
use basalt_kb::{
    chunking::{chunk_document, ChunkingConfiguration},
    ingest_document, parse_metadata_file, retrieve, DocumentToIngest, EmbeddedIndex, Embedder,
    Fusion, KbError, KnowledgeIndex, RetrievalFilter, RetrieveRequest, SearchType, TokenCounter,
    TokenizerJson,
};
use serde_json::json;

/// The engine behind the crate's trait, as the ingestion runner will wire it.
struct MiniLm(EmbeddingEngine);

#[async_trait]
impl Embedder for MiniLm {
    async fn embed(&self, texts: Vec<String>) -> basalt_kb::Result<Vec<Vec<f32>>> {
        self.0
            .embed_unit_vectors(texts)
            .await
            .map_err(|e| KbError::Embedding(e.to_string()))
    }
}

struct Engines {
    tokens: TokenizerJson,
    embedder: MiniLm,
}

fn engines() -> Option<Engines> {
    let dir = model_dir("all-MiniLM-L6-v2")?;
    let mut config = EmbeddingConfig::new(&dir);
    config.threads = 2;
    Some(Engines {
        tokens: TokenizerJson::from_file(&dir.join("tokenizer.json")).unwrap(),
        embedder: MiniLm(EmbeddingEngine::start(config).unwrap()),
    })
}

fn corpus() -> Vec<(String, String, basalt_kb::DocumentMetadata)> {
    let dir = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("tests/data/corpus");
    let mut docs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            let sidecar = std::fs::read(dir.join(format!("{name}.txt.metadata.json"))).unwrap();
            (name, text, parse_metadata_file(&sidecar).unwrap())
        })
        .collect();
    docs.sort_by(|a, b| a.0.cmp(&b.0));
    docs
}

const FIXED: ChunkingConfiguration = ChunkingConfiguration::FixedSize {
    max_tokens: 50,
    overlap_percentage: 20,
};

async fn ingest_corpus(dir: &Path, engines: &Engines, config: &ChunkingConfiguration) -> usize {
    let index = EmbeddedIndex::open(dir).unwrap();
    let mut total = 0;
    for (name, text, metadata) in corpus() {
        let uri = format!("s3://kb-corpus/{name}.txt");
        total += ingest_document(
            &index,
            &engines.tokens,
            &engines.embedder,
            config,
            DocumentToIngest {
                document_id: &uri,
                source_uri: &uri,
                data_source_id: "DS0001",
                text: &text,
                metadata: &metadata,
            },
        )
        .await
        .unwrap();
    }
    index.flush().await.unwrap();
    total
}

/// (question, the document holding the answer, words of the answer in that document)
const QUESTIONS: &[(&str, &str, &str)] = &[
    (
        "How do honeybees tell other workers where the flowers are?",
        "honeybees",
        "waggle dance",
    ),
    (
        "Which album did Miles Davis record in 1959?",
        "jazz",
        "Kind of Blue",
    ),
    (
        "Why is the marathon 42.195 kilometres long?",
        "marathon",
        "royal box",
    ),
    ("What causes spring tides?", "tides", "line up"),
    (
        "How much caffeine does robusta have compared with arabica?",
        "coffee",
        "twice as much",
    ),
    ("When is castling not allowed?", "chess", "in check"),
    (
        "What does the borrow checker prevent?",
        "rust_ownership",
        "data races",
    ),
    (
        "Who reached North America around the year 1000?",
        "vikings",
        "Leif Erikson",
    ),
    (
        "Why do leaves look green?",
        "photosynthesis",
        "reflects green",
    ),
    (
        "What gives sourdough its sour taste?",
        "sourdough",
        "acetic acids",
    ),
    (
        "Which galaxy's black hole was photographed first?",
        "black_holes",
        "M87",
    ),
    (
        "How did Jenner protect people against smallpox?",
        "vaccines",
        "cowpox",
    ),
    (
        "What keeps a moving bicycle from falling over?",
        "bicycles",
        "steering",
    ),
    ("Can paper folding trisect an angle?", "origami", "trisect"),
    (
        "Why do some volcanoes erupt explosively?",
        "volcanoes",
        "full of gas",
    ),
    // Keyword questions: rare names and numbers that BM25 matches exactly.
    ("L'Anse aux Meadows", "vikings", "Vinland"),
    ("Huzita-Hatori axioms", "origami", "Huzita-Hatori"),
    ("espresso nine bars", "coffee", "nine bars"),
    ("Lindisfarne 793", "vikings", "Lindisfarne"),
    ("Mauna Loa shield", "volcanoes", "Mauna Loa"),
    ("Calvin cycle glucose", "photosynthesis", "Calvin cycle"),
    ("derailleur sprockets cadence", "bicycles", "Derailleur"),
    ("glycogen kilometre 30", "marathon", "glycogen"),
    ("spike protein mRNA", "vaccines", "spike protein"),
];

fn document_name(uri: &str) -> &str {
    uri.trim_start_matches("s3://kb-corpus/")
        .trim_end_matches(".txt")
}

async fn ask(
    index: &EmbeddedIndex,
    engines: &Engines,
    question: &str,
    search_type: SearchType,
    fusion: Fusion,
    filter: Option<RetrievalFilter>,
) -> Vec<basalt_kb::RetrievalResult> {
    let mut request = RetrieveRequest::new(question);
    request.search_type = search_type;
    request.fusion = fusion;
    request.filter = filter;
    retrieve(index, &engines.embedder, &request).await.unwrap()
}

#[tokio::test]
async fn corpus_round_trip() {
    let Some(engines) = engines() else { return };
    let dir = tempfile::tempdir().unwrap();
    let total = ingest_corpus(dir.path(), &engines, &FIXED).await;
    assert!(total > 15, "{total} chunks");

    // Everything below reads the index as reopened from disk.
    let index = EmbeddedIndex::open(dir.path()).unwrap();
    assert_eq!(index.count().await.unwrap(), total);

    let results = ask(
        &index,
        &engines,
        QUESTIONS[0].0,
        SearchType::Semantic,
        Fusion::default(),
        None,
    )
    .await;
    assert_eq!(results.len(), 5);
    assert_eq!(document_name(&results[0].source_uri), "honeybees");
    assert!(results[0].text.contains("waggle"), "{}", results[0].text);
    assert_eq!(results[0].metadata["category"].to_json(), json!("biology"));
    assert_eq!(
        results[0].metadata["x-amz-bedrock-kb-source-uri"].to_json(),
        json!("s3://kb-corpus/honeybees.txt")
    );
    assert!(results.windows(2).all(|w| w[0].score >= w[1].score));

    // Every question's document comes first, in both search types, with every fusion.
    let fusions = [
        ("rrf", Fusion::ReciprocalRank { k: 60.0 }),
        ("min-max", Fusion::MinMax { vector_weight: 0.5 }),
        ("z-score", Fusion::ZScore { vector_weight: 0.5 }),
    ];
    let mut report = Vec::new();
    for (label, search_type, fusion) in [("semantic", SearchType::Semantic, Fusion::default())]
        .into_iter()
        .chain(fusions.map(|(l, f)| (l, SearchType::Hybrid, f)))
    {
        let (mut document_first, mut chunk_first, mut reciprocal) = (0, 0, 0.0);
        for (question, expected, answer) in QUESTIONS {
            let results = ask(&index, &engines, question, search_type, fusion, None).await;
            if document_name(&results[0].source_uri) == *expected {
                document_first += 1;
            }
            // The chunk that holds the answer, not just its document.
            let rank = results.iter().position(|r| r.text.contains(answer));
            if rank == Some(0) {
                chunk_first += 1;
            }
            reciprocal += rank.map_or(0.0, |r| 1.0 / (r as f64 + 1.0));
        }
        let n = QUESTIONS.len();
        report.push(format!(
            "{label:>9}: document first {document_first}/{n}, answer chunk first {chunk_first}/{n}, answer chunk MRR@5 {:.3}",
            reciprocal / n as f64
        ));
        assert!(
            document_first >= n - 2,
            "{label}: {document_first}/{n} first"
        );
    }
    eprintln!("retrieval on the test corpus:\n{}", report.join("\n"));

    let hybrid = ask(
        &index,
        &engines,
        "What is the waggle dance?",
        SearchType::Hybrid,
        Fusion::default(),
        None,
    )
    .await;
    assert_eq!(document_name(&hybrid[0].source_uri), "honeybees");
}

#[tokio::test]
async fn filters_narrow_and_deletes_remove() {
    let Some(engines) = engines() else { return };
    let dir = tempfile::tempdir().unwrap();
    ingest_corpus(dir.path(), &engines, &FIXED).await;
    let index = EmbeddedIndex::open(dir.path()).unwrap();
    let filter = |v| Some(RetrievalFilter::parse(&v, "filter").unwrap());
    let question = "How do honeybees tell other workers where the flowers are?";

    for search_type in [SearchType::Semantic, SearchType::Hybrid] {
        // Only cooking documents: the bee chunk is gone, and so is every other category.
        let results = ask(
            &index,
            &engines,
            question,
            search_type,
            Fusion::default(),
            filter(json!({"equals": {"key": "category", "value": "cooking"}})),
        )
        .await;
        assert!(!results.is_empty());
        assert!(results
            .iter()
            .all(|r| ["coffee", "sourdough"].contains(&document_name(&r.source_uri))));

        let results = ask(
            &index,
            &engines,
            question,
            search_type,
            Fusion::default(),
            filter(json!({"andAll": [
                {"greaterThanOrEquals": {"key": "year", "value": 2021}},
                {"listContains": {"key": "tags", "value": "insects"}}
            ]})),
        )
        .await;
        assert!(!results.is_empty());
        assert!(results
            .iter()
            .all(|r| document_name(&r.source_uri) == "honeybees"));

        // The built-in source URI attribute filters like any other.
        let results = ask(
            &index,
            &engines,
            question,
            search_type,
            Fusion::default(),
            filter(json!({"startsWith": {"key": "x-amz-bedrock-kb-source-uri",
                                         "value": "s3://kb-corpus/v"}})),
        )
        .await;
        assert!(results.iter().all(|r| {
            ["vaccines", "vikings", "volcanoes"].contains(&document_name(&r.source_uri))
        }));
    }

    // The typed sidecar form reaches the index too.
    let jazz = ask(
        &index,
        &engines,
        "Miles Davis modal album",
        SearchType::Semantic,
        Fusion::default(),
        filter(json!({"in": {"key": "category", "value": ["music"]}})),
    )
    .await;
    assert_eq!(document_name(&jazz[0].source_uri), "jazz");
    assert_eq!(jazz[0].metadata["year"].to_json(), json!(2020));

    let before = index.count().await.unwrap();
    let removed = index
        .delete_document("s3://kb-corpus/honeybees.txt")
        .await
        .unwrap();
    assert!(removed >= 2);
    index.flush().await.unwrap();
    drop(index);
    let index = EmbeddedIndex::open(dir.path()).unwrap();
    assert_eq!(index.count().await.unwrap(), before - removed);
    for search_type in [SearchType::Semantic, SearchType::Hybrid] {
        let results = ask(
            &index,
            &engines,
            question,
            search_type,
            Fusion::default(),
            None,
        )
        .await;
        assert!(results
            .iter()
            .all(|r| document_name(&r.source_uri) != "honeybees"));
    }
}

#[tokio::test]
async fn chunks_fit_the_real_tokenizer() {
    let Some(engines) = engines() else { return };
    for (_, text, _) in corpus() {
        for max_tokens in [8, 20, 50] {
            let config = ChunkingConfiguration::FixedSize {
                max_tokens,
                overlap_percentage: 30,
            };
            let chunks = chunk_document(&text, &config, &engines.tokens, &engines.embedder)
                .await
                .unwrap();
            for chunk in &chunks {
                let own = engines.tokens.token_offsets(&chunk.text).unwrap().len();
                assert!(own <= max_tokens, "{own} > {max_tokens}: {:?}", chunk.text);
                assert_eq!(&text[chunk.span.clone()], chunk.text);
            }
        }
    }
}

#[tokio::test]
async fn hierarchical_retrieval_returns_parents() {
    let Some(engines) = engines() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = ChunkingConfiguration::Hierarchical {
        parent_max_tokens: 120,
        child_max_tokens: 25,
        overlap_tokens: 5,
    };
    ingest_corpus(dir.path(), &engines, &config).await;
    let index = EmbeddedIndex::open(dir.path()).unwrap();
    let results = ask(
        &index,
        &engines,
        "How do honeybees tell other workers where the flowers are?",
        SearchType::Hybrid,
        Fusion::default(),
        None,
    )
    .await;
    assert_eq!(document_name(&results[0].source_uri), "honeybees");
    // The parent: more than a child's 25 tokens, holding the dance and the comb.
    let tokens = engines
        .tokens
        .token_offsets(&results[0].text)
        .unwrap()
        .len();
    assert!(tokens > 25 && tokens <= 120, "{tokens}");
    assert!(results[0].text.contains("waggle"));
    // Children of one parent come back once.
    let mut texts: Vec<_> = results.iter().map(|r| &r.text).collect();
    texts.dedup();
    assert_eq!(texts.len(), results.len());
}

#[tokio::test]
async fn semantic_chunking_splits_topics_with_the_real_model() {
    let Some(engines) = engines() else { return };
    let docs = corpus();
    let text_of = |name: &str| {
        docs.iter()
            .find(|d| d.0 == name)
            .unwrap()
            .1
            .replace("\n\n", " ")
            .trim()
            .to_string()
    };
    let (bees, chess) = (text_of("honeybees"), text_of("chess"));
    let text = format!("{bees} {chess}");
    let config = ChunkingConfiguration::Semantic {
        max_tokens: 300,
        buffer_size: 0,
        breakpoint_percentile_threshold: 85,
    };
    let chunks = chunk_document(&text, &config, &engines.tokens, &engines.embedder)
        .await
        .unwrap();
    assert!(chunks.len() >= 2, "{chunks:#?}");
    // A split falls exactly where the bees end and chess begins, and no chunk mixes them.
    assert!(
        chunks.iter().any(|c| c.span.end == bees.len()),
        "{chunks:#?}"
    );
    for c in &chunks {
        assert!(c.span.end <= bees.len() || c.span.start > bees.len());
    }
}
