//! Shared pieces of the fuzz targets: the reader checks and a scratch folder.

pub mod checks;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A scratch folder for this process (the readers take paths).
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("pcchip-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch folder");
        d
    })
}
