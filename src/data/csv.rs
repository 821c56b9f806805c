//! Numeric CSV reader (hand-written: comma-split, no quoting).
//!
//! Every field must be a number. One chosen column is a class label
//! (classification, one-hot targets) or chosen columns are regression
//! targets; all other columns are features. An optional first line is a
//! header and is skipped. Blank lines are ignored. Errors name the file and
//! the 1-based line and column. Knows nothing about where files come from.

use super::{DataError, Dataset, Targets};
use nalgebra::DMatrix;
use std::path::Path;

/// Largest class index accepted in a label column.
pub const MAX_LABEL: usize = 65_535;

/// Which columns are targets (0-based column indices).
#[derive(Clone, Debug, PartialEq)]
pub enum CsvTarget {
    /// This column holds an integer class label (classification).
    Label(usize),
    /// These columns hold regression targets, in this order.
    Columns(Vec<usize>),
}

/// How to read a CSV file.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvOptions {
    /// First line is a header to skip (default false).
    pub has_header: bool,
    /// Target columns: a label column or regression columns.
    pub target: CsvTarget,
    /// One-hot values for classification (default 1 / 0).
    pub targets: Targets,
}

impl CsvOptions {
    /// Classification with the label in column `col`, no header, targets 1/0.
    pub fn label(col: usize) -> Self {
        CsvOptions {
            has_header: false,
            target: CsvTarget::Label(col),
            targets: Targets::default(),
        }
    }

    /// Regression on columns `cols`, no header.
    pub fn regression(cols: Vec<usize>) -> Self {
        CsvOptions {
            has_header: false,
            target: CsvTarget::Columns(cols),
            targets: Targets::default(),
        }
    }
}

/// Reads and parses the CSV file at `path`; the data set is named after its stem.
pub fn load_csv(path: &Path, opts: &CsvOptions) -> Result<Dataset, DataError> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path
        .file_stem()
        .map_or("csv".into(), |s| s.to_string_lossy().into_owned());
    parse_csv(&text, path, &name, opts)
}

/// Parses CSV `text`; `path` is only used in error messages.
pub fn parse_csv(
    text: &str,
    path: &Path,
    name: &str,
    opts: &CsvOptions,
) -> Result<Dataset, DataError> {
    let err_path = || path.to_path_buf();
    let target_cols: Vec<usize> = match &opts.target {
        CsvTarget::Label(c) => vec![*c],
        CsvTarget::Columns(cs) => cs.clone(),
    };
    let (mut x, mut t) = (Vec::new(), Vec::new());
    let (mut n_cols, mut is_target, mut n) = (0, Vec::new(), 0);
    let skip = usize::from(opts.has_header);
    for (i, raw) in text.lines().enumerate().skip(skip) {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if n == 0 {
            n_cols = fields.len();
            if let Some(&column) = target_cols.iter().find(|&&c| c >= n_cols) {
                return Err(DataError::BadColumn {
                    path: err_path(),
                    column,
                    n_columns: n_cols,
                });
            }
            is_target = (0..n_cols).map(|c| target_cols.contains(&c)).collect();
        } else if fields.len() != n_cols {
            return Err(DataError::Ragged {
                path: err_path(),
                line: i + 1,
                expected: n_cols,
                found: fields.len(),
            });
        }
        let mut row_t = vec![0.0; target_cols.len()];
        for (c, f) in fields.iter().enumerate() {
            let f = f.trim();
            let bad = |why| DataError::BadField {
                path: err_path(),
                line: i + 1,
                column: c + 1,
                text: f.to_string(),
                why,
            };
            let v: f64 = f.parse().map_err(|_| bad("is not a number; every field must be numeric (use has_header for a header line)"))?;
            if !v.is_finite() {
                return Err(bad("is not finite; expected a finite number"));
            }
            if is_target[c] {
                for (k, _) in target_cols.iter().enumerate().filter(|(_, &tc)| tc == c) {
                    row_t[k] = v;
                }
                if matches!(opts.target, CsvTarget::Label(_))
                    && (v < 0.0 || v.fract() != 0.0 || v > MAX_LABEL as f64)
                {
                    return Err(bad(
                        "is not a class label; expected an integer from 0 to 65535",
                    ));
                }
            } else {
                x.push(v);
            }
        }
        t.extend_from_slice(&row_t);
        n += 1;
    }
    if n == 0 {
        return Err(DataError::Empty { path: err_path() });
    }
    let n_features = is_target.iter().filter(|&&b| !b).count();
    let x = DMatrix::from_vec(n_features, n, x);
    Ok(match opts.target {
        CsvTarget::Label(_) => {
            let labels = t.iter().map(|&v| v as usize).collect();
            Dataset::classification(name, x, labels, opts.targets)
        }
        CsvTarget::Columns(_) => Dataset {
            name: name.to_string(),
            x,
            y: DMatrix::from_vec(target_cols.len(), n, t),
            labels: None,
            encoding: super::Encoding::Dense,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, opts: &CsvOptions) -> Result<Dataset, DataError> {
        parse_csv(text, Path::new("t.csv"), "t", opts)
    }

    #[test]
    fn reads_label_and_regression_columns() {
        let text = "a,b,label\n1,2,0\n3,4,2\n\n5,6,1\n";
        let d = parse(
            text,
            &CsvOptions {
                has_header: true,
                ..CsvOptions::label(2)
            },
        )
        .unwrap();
        assert_eq!((d.n_features(), d.len(), d.n_outputs()), (2, 3, 3));
        assert_eq!(d.labels, Some(vec![0, 2, 1]));
        assert_eq!(d.x.column(1).as_slice(), [3.0, 4.0]);
        assert_eq!(d.y.column(1).as_slice(), [0.0, 0.0, 1.0]);
        let r = parse("1,2,3\n4,5,6\n", &CsvOptions::regression(vec![2, 0])).unwrap();
        assert_eq!(r.x.as_slice(), [2.0, 5.0]);
        assert_eq!(r.y.column(1).as_slice(), [6.0, 4.0]);
        assert!(r.labels.is_none());
    }

    #[test]
    fn ragged_row_names_line() {
        let e = parse("1,2,0\n3,4,1\n5,6\n", &CsvOptions::label(2)).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::Ragged {
                    line: 3,
                    expected: 3,
                    found: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("t.csv:3:"), "{e}");
    }

    #[test]
    fn non_number_names_line_and_column() {
        let e = parse("1,2,0\n3,x4,1\n", &CsvOptions::label(2)).unwrap_err();
        assert_eq!(e.to_string().split(' ').next(), Some("t.csv:2:2:"), "{e}");
        let e = parse("1,2,0.5\n", &CsvOptions::label(2)).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::BadField {
                    line: 1,
                    column: 3,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = parse("1,2\n", &CsvOptions::label(5)).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::BadColumn {
                    column: 5,
                    n_columns: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(matches!(
            parse(
                "h\n",
                &CsvOptions {
                    has_header: true,
                    ..CsvOptions::label(0)
                }
            ),
            Err(DataError::Empty { .. })
        ));
    }
}
