//! One JSON line per delivery, appended to a file or written to standard output.

use crate::alerts::model::Alert;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

/// A JSON-lines destination.
#[derive(Debug)]
pub struct Jsonl {
    /// The file; `None` is standard output.
    pub path: Option<PathBuf>,
}

impl Jsonl {
    /// Appends the alert as one line.
    pub async fn send(&self, a: &Alert) -> Result<(), String> {
        let mut line = a.to_json().to_string();
        line.push('\n');
        match &self.path {
            None => {
                let mut out = tokio::io::stdout();
                out.write_all(line.as_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
                out.flush().await.map_err(|e| e.to_string())
            }
            Some(p) => {
                let mut f = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .await
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                f.write_all(line.as_bytes())
                    .await
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                f.flush().await.map_err(|e| e.to_string())
            }
        }
    }
}
