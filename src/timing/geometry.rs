//! The chip's shape as the time and energy model sees it: per layer, how
//! its weight matrix is tiled onto fixed-size arrays, how many devices it
//! holds and how many activity nodes (integrators and error units) it has.
//!
//! A tile holds a `tile_rows × tile_cols` block of W_ℓ (shape n_ℓ × n_{ℓ−1}):
//! rows run along the layer's outputs, columns along its inputs. Each weight
//! is a differential pair (G⁺, G⁻), so two devices (MODEL.md §4).

use super::config::TimingError;
use serde::{Deserialize, Serialize};

/// Devices per weight: a differential conductance pair.
pub const DEVICES_PER_WEIGHT: usize = 2;

/// One weight layer ℓ (W_ℓ of shape `n_out × n_in`) on its tiles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerGeometry {
    /// Outputs n_ℓ.
    pub n_out: usize,
    /// Inputs n_{ℓ−1}.
    pub n_in: usize,
    /// Tiles along the outputs: ⌈n_out / tile_rows⌉.
    pub n_block_rows: usize,
    /// Tiles along the inputs: ⌈n_in / tile_cols⌉.
    pub n_block_cols: usize,
    /// Tiles: `n_block_rows · n_block_cols`.
    pub n_tiles: usize,
    /// Used rows on the fullest tile: min(n_out, tile_rows).
    pub rows_per_tile: usize,
    /// Used columns on the fullest tile: min(n_in, tile_cols).
    pub cols_per_tile: usize,
    /// Weights n_out · n_in (one multiply–accumulate each per product).
    pub n_weights: usize,
    /// Devices: `DEVICES_PER_WEIGHT · n_weights`.
    pub n_devices: usize,
    /// Integrators holding z_ℓ: n_out for hidden layers, 0 for the output
    /// layer (clamped to the target).
    pub n_integrators: usize,
    /// Error units forming ε_ℓ: n_out for every layer.
    pub n_error_units: usize,
    /// Activities into the layer per sample (n_in for a dense layer,
    /// C_in·H·W for a conv).
    pub n_units_in: usize,
    /// Array reads of one product per sample: 1 for a dense layer, one
    /// per output pixel (H·W) for a conv, 0 for a pool (no array).
    pub reads_per_sample: usize,
}

impl LayerGeometry {
    /// Multiply–accumulates of one product per sample: weights × reads.
    pub fn macs_per_sample(&self) -> usize {
        self.n_weights * self.reads_per_sample
    }

    /// Activity nodes that draw bias power: integrators plus error units.
    pub fn n_nodes(&self) -> usize {
        self.n_integrators + self.n_error_units
    }
}

/// One layer's array as the geometry needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArraySpec {
    /// Array rows (outputs of one read; 0 for a layer without an array).
    pub rows: usize,
    /// Array columns (inputs of one read).
    pub cols: usize,
    /// Activities into the layer per sample.
    pub units_in: usize,
    /// Activities out of the layer per sample (its error units and, for a
    /// hidden layer, integrators).
    pub units_out: usize,
    /// Reads of the array per sample and product.
    pub reads_per_sample: usize,
}

/// Every layer of the chip, tiled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChipGeometry {
    /// Rows per tile (along a layer's outputs).
    pub tile_rows: usize,
    /// Columns per tile (along a layer's inputs).
    pub tile_cols: usize,
    /// Layers ℓ = 1..L, stored 0-based.
    pub layers: Vec<LayerGeometry>,
}

impl ChipGeometry {
    /// Tiles dense layers of `widths = [n_0, …, n_L]` onto
    /// `tile_rows × tile_cols` arrays.
    ///
    /// Errors when fewer than two widths are given, a width is 0, or a tile
    /// dimension is 0.
    pub fn new(widths: &[usize], tile_rows: usize, tile_cols: usize) -> Result<Self, TimingError> {
        if widths.len() < 2 || widths.contains(&0) {
            let e = "at least two widths [n_0, …, n_L], each ≥ 1";
            return Err(TimingError::OutOfRange {
                key: "geometry.widths",
                expected: e,
                found: format!("{widths:?}"),
            });
        }
        let arrays: Vec<ArraySpec> = widths
            .windows(2)
            .map(|w| ArraySpec {
                rows: w[1],
                cols: w[0],
                units_in: w[0],
                units_out: w[1],
                reads_per_sample: 1,
            })
            .collect();
        Self::of_arrays(&arrays, tile_rows, tile_cols)
    }

    /// Tiles layers of any kind (one [`ArraySpec`] a layer, ℓ = 1..L).
    pub fn of_arrays(
        arrays: &[ArraySpec],
        tile_rows: usize,
        tile_cols: usize,
    ) -> Result<Self, TimingError> {
        let bad = |key, expected, found: String| TimingError::OutOfRange {
            key,
            expected,
            found,
        };
        if arrays.is_empty() {
            return Err(bad("geometry.widths", "at least one layer", "none".into()));
        }
        if tile_rows == 0 {
            return Err(bad("geometry.tile_rows", "tile_rows ≥ 1", "0".into()));
        }
        if tile_cols == 0 {
            return Err(bad("geometry.tile_cols", "tile_cols ≥ 1", "0".into()));
        }
        let depth = arrays.len();
        let layers = (1..=depth)
            .map(|l| {
                let a = &arrays[l - 1];
                let (n_out, n_in) = (a.rows, a.cols);
                let n_block_rows = n_out.div_ceil(tile_rows);
                let n_block_cols = n_in.div_ceil(tile_cols);
                let n_weights = n_out * n_in;
                LayerGeometry {
                    n_out,
                    n_in,
                    n_block_rows,
                    n_block_cols,
                    n_tiles: n_block_rows * n_block_cols,
                    rows_per_tile: n_out.min(tile_rows),
                    cols_per_tile: n_in.min(tile_cols),
                    n_weights,
                    n_devices: DEVICES_PER_WEIGHT * n_weights,
                    n_integrators: if l < depth { a.units_out } else { 0 },
                    n_error_units: a.units_out,
                    n_units_in: a.units_in,
                    reads_per_sample: a.reads_per_sample,
                }
            })
            .collect();
        Ok(ChipGeometry {
            tile_rows,
            tile_cols,
            layers,
        })
    }

    /// Number of weight layers L.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Input width n_0 (activities per sample).
    pub fn n_input(&self) -> usize {
        self.layers[0].n_units_in
    }

    /// Output width n_L (activities per sample).
    pub fn n_output(&self) -> usize {
        self.layers[self.layers.len() - 1].n_error_units
    }

    /// Multiply–accumulates of one product through every layer, per sample.
    pub fn macs_per_sample(&self) -> usize {
        self.layers.iter().map(LayerGeometry::macs_per_sample).sum()
    }

    /// How many times the busiest array is read in turn for one product
    /// of a sample (its reads per sample, ≥ 1): a conv layer on one array
    /// serves its H·W pixels one after another, so each pixel's loop is
    /// closed this fraction of the time and the relaxation runs this much
    /// slower than with one array per pixel.
    pub fn multiplexing(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.reads_per_sample)
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// Tiles over all layers.
    pub fn n_tiles(&self) -> usize {
        self.layers.iter().map(|l| l.n_tiles).sum()
    }

    /// Weights over all layers.
    pub fn n_weights(&self) -> usize {
        self.layers.iter().map(|l| l.n_weights).sum()
    }

    /// Devices over all layers.
    pub fn n_devices(&self) -> usize {
        self.layers.iter().map(|l| l.n_devices).sum()
    }

    /// Activity nodes (integrators plus error units) over all layers.
    pub fn n_nodes(&self) -> usize {
        self.layers.iter().map(LayerGeometry::n_nodes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_of_shapes_that_divide_the_tile() {
        // 512 × 256 on 256 × 256: 2 × 1 tiles; 256 × 256: 1 tile; 10 × 512: 1 × 2.
        let g = ChipGeometry::new(&[256, 512, 256, 10], 256, 256).unwrap();
        let t: Vec<_> = g.layers.iter().map(|l| l.n_tiles).collect();
        assert_eq!(t, [2, 2, 1]);
        assert_eq!(g.layers[0].n_block_rows, 2);
        assert_eq!(g.layers[0].n_block_cols, 1);
        assert_eq!(g.layers[1].n_block_rows, 1);
        assert_eq!(g.layers[1].n_block_cols, 2);
        assert_eq!(g.n_tiles(), 5);
        assert_eq!(g.layers[2].rows_per_tile, 10);
        assert_eq!(g.layers[2].cols_per_tile, 256);
    }

    #[test]
    fn tiles_of_shapes_that_do_not_divide_the_tile() {
        // 784 → 300 → 10 on 256 × 128 tiles:
        // W_1 300 × 784: ⌈300/256⌉ = 2 rows of tiles, ⌈784/128⌉ = 7 columns: 14.
        // W_2 10 × 300: ⌈10/256⌉ = 1, ⌈300/128⌉ = 3: 3.
        let g = ChipGeometry::new(&[784, 300, 10], 256, 128).unwrap();
        assert_eq!(g.layers[0].n_tiles, 14);
        assert_eq!(g.layers[1].n_tiles, 3);
        assert_eq!(g.layers[0].n_weights, 300 * 784);
        assert_eq!(g.layers[0].n_devices, 2 * 300 * 784);
        // Hidden layer: 300 integrators + 300 error units; output: 10 error units.
        assert_eq!(g.layers[0].n_nodes(), 600);
        assert_eq!(g.layers[1].n_nodes(), 10);
        assert_eq!(g.n_nodes(), 610);
        assert_eq!((g.n_input(), g.n_output(), g.depth()), (784, 10, 2));
    }

    #[test]
    fn rejects_empty_and_zero_shapes() {
        let e = ChipGeometry::new(&[5], 4, 4).unwrap_err().to_string();
        assert!(e.contains("geometry.widths"), "{e}");
        let e = ChipGeometry::new(&[5, 0, 3], 4, 4).unwrap_err().to_string();
        assert!(e.contains("geometry.widths"), "{e}");
        let e = ChipGeometry::new(&[5, 3], 0, 4).unwrap_err().to_string();
        assert!(e.contains("geometry.tile_rows"), "{e}");
        let e = ChipGeometry::new(&[5, 3], 4, 0).unwrap_err().to_string();
        assert!(e.contains("geometry.tile_cols"), "{e}");
    }
}
