//! Tiling: a weight matrix larger than one physical array is split into tiles.
//!
//! W (n_out × n_in) is cut into a grid of blocks of at most `rows` outputs ×
//! `cols` inputs. Each tile computes its partial product by Ohm's and
//! Kirchhoff's laws; partial outputs of the tiles sharing outputs are summed,
//! in analog current (exact, so the in-loop products use one dense matrix) or
//! after each tile's own ADC (`Crossbar::forward_digital_into`). Published
//! arrays are 256×256 to 512×512 (Joshi et al. 2020; Wan et al. 2022;
//! Le Gallo et al. 2023, Nat. Electron. 6, 680).

use super::error::AnalogError;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Size of one physical array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TileConfig {
    /// Maximum number of outputs (rows of W) per tile, ≥ 1. Default 512.
    pub rows: usize,
    /// Maximum number of inputs (columns of W) per tile, ≥ 1. Default 512.
    pub cols: usize,
}

impl Default for TileConfig {
    fn default() -> Self {
        Self {
            rows: 512,
            cols: 512,
        }
    }
}

impl TileConfig {
    /// Checks the fields' ranges.
    pub fn validate(&self) -> Result<(), AnalogError> {
        if self.rows == 0 {
            return Err(AnalogError::range(
                "tile.rows",
                0.0,
                "≥ 1 (outputs per array)",
            ));
        }
        if self.cols == 0 {
            return Err(AnalogError::range(
                "tile.cols",
                0.0,
                "≥ 1 (inputs per array)",
            ));
        }
        Ok(())
    }

    /// Output (row) ranges of the tile grid for `n_out` outputs.
    pub fn row_blocks(&self, n_out: usize) -> Vec<Range<usize>> {
        blocks(n_out, self.rows)
    }

    /// Input (column) ranges of the tile grid for `n_in` inputs.
    pub fn col_blocks(&self, n_in: usize) -> Vec<Range<usize>> {
        blocks(n_in, self.cols)
    }

    /// (tile rows, tile columns) of the grid covering an `n_out × n_in` matrix.
    pub fn grid(&self, n_out: usize, n_in: usize) -> (usize, usize) {
        (
            n_out.div_ceil(self.rows.max(1)),
            n_in.div_ceil(self.cols.max(1)),
        )
    }
}

fn blocks(n: usize, size: usize) -> Vec<Range<usize>> {
    let size = size.max(1);
    (0..n.div_ceil(size))
        .map(|b| b * size..((b + 1) * size).min(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_exactly() {
        let t = TileConfig {
            rows: 100,
            cols: 64,
        };
        assert_eq!(t.row_blocks(250), vec![0..100, 100..200, 200..250]);
        assert_eq!(t.col_blocks(128), vec![0..64, 64..128]);
        assert_eq!(t.grid(250, 128), (3, 2));
        assert!(t.row_blocks(0).is_empty());
        assert!(TileConfig { rows: 0, cols: 1 }
            .validate()
            .unwrap_err()
            .to_string()
            .contains("tile.rows"));
    }
}
