//! The sweep's grid: widths × depths × seeds in a fixed order, and the
//! shards it splits into (cell index mod N).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A bad `--widths`, `--depths`, `--seeds` or `--shard`, naming the flag.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GridError {
    #[error("{flag}: the list is empty")]
    Empty { flag: String },
    #[error("{flag}: {item} is listed twice")]
    Twice { flag: String, item: String },
    #[error("--widths: a width must be ≥ 1 unit, got 0")]
    ZeroWidth,
    #[error("--depths: a depth must be ≥ 1 weight layer, got 0")]
    ZeroDepth,
    #[error("{flag}: empty item in `{text}`")]
    EmptyItem { flag: String, text: String },
    #[error("{flag}: `{item}` is not a non-negative integer")]
    NotInteger { flag: String, item: String },
    #[error("--shard: expected I/N with 0 ≤ I < N (e.g. 0/4), got `{0}`")]
    Shard(String),
    #[error("--shard: N must be ≥ 1, got `{0}`")]
    ShardCount(String),
    #[error("--shard: I must be < N (shards are numbered 0 … {}), got `{text}`", count - 1)]
    ShardIndex { text: String, count: usize },
}

/// The lists of a sweep, as given (order kept, duplicates refused).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    /// Hidden widths N (units), each ≥ 1.
    pub widths: Vec<usize>,
    /// Depths L (weight layers), each ≥ 1.
    pub depths: Vec<usize>,
    /// Seeds of the circuit's random streams.
    pub seeds: Vec<u64>,
}

/// One cell of the grid; `index` is its position in [`Grid::cells`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub index: usize,
    pub width: usize,
    pub depth: usize,
    pub seed: u64,
}

impl Grid {
    /// Checks the lists: non-empty, widths and depths ≥ 1, no duplicates.
    pub fn new(widths: Vec<usize>, depths: Vec<usize>, seeds: Vec<u64>) -> Result<Self, GridError> {
        nonempty_distinct("--widths", &widths)?;
        nonempty_distinct("--depths", &depths)?;
        nonempty_distinct("--seeds", &seeds)?;
        if widths.contains(&0) {
            return Err(GridError::ZeroWidth);
        }
        if depths.contains(&0) {
            return Err(GridError::ZeroDepth);
        }
        Ok(Grid {
            widths,
            depths,
            seeds,
        })
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.widths.len() * self.depths.len() * self.seeds.len()
    }

    /// Whether the grid has no cells (never, for a checked grid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every cell, width-major, then depth, then seed.
    pub fn cells(&self) -> Vec<Cell> {
        let mut out = Vec::with_capacity(self.len());
        for &width in &self.widths {
            for &depth in &self.depths {
                for &seed in &self.seeds {
                    out.push(Cell {
                        index: out.len(),
                        width,
                        depth,
                        seed,
                    });
                }
            }
        }
        out
    }
}

fn nonempty_distinct<T: PartialEq + fmt::Display>(flag: &str, v: &[T]) -> Result<(), GridError> {
    if v.is_empty() {
        return Err(GridError::Empty { flag: flag.into() });
    }
    for (i, a) in v.iter().enumerate() {
        if v[..i].contains(a) {
            return Err(GridError::Twice {
                flag: flag.into(),
                item: a.to_string(),
            });
        }
    }
    Ok(())
}

/// Parses a comma-separated list of non-negative integers; `flag` names it in errors.
pub fn parse_list<T: FromStr>(flag: &str, text: &str) -> Result<Vec<T>, GridError> {
    if text.trim().is_empty() {
        return Err(GridError::Empty { flag: flag.into() });
    }
    text.split(',')
        .map(|item| {
            let item = item.trim();
            item.parse::<T>().map_err(|_| {
                if item.is_empty() {
                    GridError::EmptyItem {
                        flag: flag.into(),
                        text: text.into(),
                    }
                } else {
                    GridError::NotInteger {
                        flag: flag.into(),
                        item: item.into(),
                    }
                }
            })
        })
        .collect()
}

/// The `index`-th of `count` slices of a grid: the cells whose index is
/// `index` mod `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Whether this shard runs cell `cell_index`.
    pub fn owns(&self, cell_index: usize) -> bool {
        cell_index % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = GridError;

    /// "I/N" with 0 ≤ I < N.
    fn from_str(s: &str) -> Result<Self, GridError> {
        let bad = || GridError::Shard(s.into());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(GridError::ShardCount(s.into()));
        }
        if index >= count {
            return Err(GridError::ShardIndex {
                text: s.into(),
                count,
            });
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_grid() {
        let g = Grid::new(vec![8, 16, 32], vec![2, 4], vec![0, 1, 2]).unwrap();
        let cells = g.cells();
        assert_eq!(cells.len(), 18);
        assert!(cells.iter().enumerate().all(|(i, c)| c.index == i));
        for n in 1..=5 {
            let mut seen = vec![0; cells.len()];
            for i in 0..n {
                let s = Shard { index: i, count: n };
                for c in cells.iter().filter(|c| s.owns(c.index)) {
                    seen[c.index] += 1;
                }
            }
            assert!(seen.iter().all(|&k| k == 1), "N = {n}: {seen:?}");
        }
    }

    #[test]
    fn bad_lists_and_shards_are_refused() {
        assert!(Grid::new(vec![], vec![2], vec![0]).is_err());
        assert!(Grid::new(vec![0, 8], vec![2], vec![0])
            .unwrap_err()
            .to_string()
            .contains("≥ 1"));
        assert!(Grid::new(vec![8, 8], vec![2], vec![0])
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(parse_list::<usize>("--widths", "8,,16")
            .unwrap_err()
            .to_string()
            .contains("empty item"));
        assert!(parse_list::<usize>("--widths", "8,x")
            .unwrap_err()
            .to_string()
            .contains("`x`"));
        assert_eq!(
            parse_list::<usize>("--widths", " 8, 16 ").unwrap(),
            vec![8, 16]
        );
        assert!("2/2".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert!("1-2".parse::<Shard>().is_err());
        assert_eq!(
            "1/3".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 3 }
        );
    }
}
