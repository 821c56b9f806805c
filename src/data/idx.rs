//! Reader for IDX files (the format of MNIST and Fashion-MNIST), plain or
//! gzipped (detected by the gzip magic `1f 8b`).
//!
//! An IDX file is a big-endian header — magic `00 00 08 NDIM` (unsigned
//! bytes), then NDIM item counts as `u32` — followed by the data. Images are
//! `0x00000803` (count × rows × columns), labels `0x00000801` (count).
//! The header is untrusted: the byte count it promises is checked against
//! what the file really holds before any buffer of that size is made, so a
//! corrupt or hostile header yields an error, never a huge allocation.
//! Pixels are scaled to [0, 1]. Knows nothing about training.

use super::{DataError, Dataset, Targets};
use flate2::read::GzDecoder;
use nalgebra::DMatrix;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// An opened IDX file whose header has been read.
struct IdxFile<'a> {
    path: &'a Path,
    reader: Box<dyn Read + 'a>,
    /// Data bytes left in a plain file (`None` when gzipped: unknown).
    plain_len: Option<u64>,
    dims: Vec<u32>,
}

impl<'a> IdxFile<'a> {
    /// Opens `path` and reads its header, which must carry `magic`.
    fn open(path: &'a Path, magic: u32, what: &'static str) -> Result<Self, DataError> {
        let io = |source| DataError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let mut head = [0u8; 2];
        let n_head = file.read(&mut head).map_err(io)?;
        file.rewind().map_err(io)?;
        let gz = n_head == 2 && head == [0x1f, 0x8b];
        let mut reader: Box<dyn Read> = if gz {
            Box::new(GzDecoder::new(BufReader::new(file)))
        } else {
            Box::new(BufReader::new(file))
        };
        let ndims = (magic & 0xff) as usize;
        let header_len = 4 * (1 + ndims);
        let mut word = || {
            let mut w = [0u8; 4];
            reader.read_exact(&mut w).map(|()| u32::from_be_bytes(w)).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => DataError::BadHeader {
                    path: path.to_path_buf(),
                    what: format!("file ends inside the IDX header; expected {header_len} header bytes ({what})"),
                },
                _ => io(e),
            })
        };
        let found = word()?;
        if found != magic {
            return Err(DataError::BadMagic {
                path: path.to_path_buf(),
                found,
                expected: magic,
                what,
            });
        }
        let dims = (0..ndims).map(|_| word()).collect::<Result<_, _>>()?;
        let plain_len = (!gz).then(|| file_len.saturating_sub(header_len as u64));
        Ok(IdxFile {
            path,
            reader,
            plain_len,
            dims,
        })
    }

    /// Reads the data, after checking that the file holds exactly the number
    /// of bytes the header promises.
    fn read_data(mut self) -> Result<Vec<u8>, DataError> {
        let path = self.path.to_path_buf();
        let promised = self
            .dims
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(u64::from(d)));
        let promised = promised.ok_or_else(|| DataError::BadHeader {
            path: path.clone(),
            what: format!(
                "header dimensions {:?} overflow a 64-bit byte count",
                self.dims
            ),
        })?;
        let wrong = |found| DataError::WrongLength {
            path: path.clone(),
            promised,
            found,
        };
        if let Some(found) = self.plain_len {
            if found != promised {
                return Err(wrong(found));
            }
        }
        // Grows with the bytes actually read, never by the header's promise.
        let mut data = Vec::new();
        let limit = promised.saturating_add(1);
        (&mut self.reader)
            .take(limit)
            .read_to_end(&mut data)
            .map_err(|source| DataError::Io {
                path: path.clone(),
                source,
            })?;
        if data.len() as u64 != promised {
            return Err(wrong(data.len() as u64));
        }
        Ok(data)
    }
}

/// Loads an images file (`idx3-ubyte`) and its labels file (`idx1-ubyte`),
/// either possibly gzipped, into a classification [`Dataset`]: `x` is
/// `(rows·cols) × n` with pixels in [0, 1], `y` one-hot (1/0) over
/// `max(label) + 1` classes. The set is named after the images file's stem.
pub fn load_idx_pair(images_path: &Path, labels_path: &Path) -> Result<Dataset, DataError> {
    let images = IdxFile::open(images_path, IMAGES_MAGIC, "images")?;
    let labels = IdxFile::open(labels_path, LABELS_MAGIC, "labels")?;
    let (n_images, n_labels) = (images.dims[0], labels.dims[0]);
    if n_images != n_labels {
        return Err(DataError::CountMismatch {
            images: images_path.to_path_buf(),
            labels: labels_path.to_path_buf(),
            n_images: n_images.into(),
            n_labels: n_labels.into(),
        });
    }
    let n_pixels = images.dims[1] as usize * images.dims[2] as usize;
    let pixels = images.read_data()?;
    let labels: Vec<usize> = labels.read_data()?.into_iter().map(usize::from).collect();
    let x = DMatrix::from_iterator(
        n_pixels,
        labels.len(),
        pixels.iter().map(|&p| f64::from(p) / 255.0),
    );
    let name = images_path
        .file_stem()
        .map_or("idx".into(), |s| s.to_string_lossy().into_owned());
    Ok(Dataset::classification(
        &name,
        x,
        labels,
        Targets::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;
    use std::path::PathBuf;

    /// A fresh, unique folder under the system temp dir.
    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pcchip-idx-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = magic.to_be_bytes().to_vec();
        dims.iter()
            .for_each(|d| b.extend_from_slice(&d.to_be_bytes()));
        b.extend_from_slice(data);
        b
    }

    fn write(path: &Path, bytes: &[u8], gz: bool) {
        let bytes = if gz {
            let mut e = GzEncoder::new(Vec::new(), Compression::default());
            e.write_all(bytes).unwrap();
            e.finish().unwrap()
        } else {
            bytes.to_vec()
        };
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn round_trip_plain_and_gzip() {
        let dir = temp_dir("rt");
        let pixels: Vec<u8> = (0..5 * 6).map(|i| (i * 8) as u8).collect();
        let labels = [3u8, 0, 1, 3, 2];
        for gz in [false, true] {
            let (ip, lp) = (dir.join(format!("img{gz}")), dir.join(format!("lab{gz}")));
            write(&ip, &idx_bytes(IMAGES_MAGIC, &[5, 2, 3], &pixels), gz);
            write(&lp, &idx_bytes(LABELS_MAGIC, &[5], &labels), gz);
            let d = load_idx_pair(&ip, &lp).unwrap();
            assert_eq!((d.n_features(), d.len(), d.n_outputs()), (6, 5, 4));
            assert_eq!(d.labels, Some(vec![3, 0, 1, 3, 2]));
            assert_eq!(d.x[(1, 2)], 13.0 * 8.0 / 255.0);
            assert_eq!(d.y[(2, 4)], 1.0);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_files_give_errors_without_huge_allocation() {
        let dir = temp_dir("bad");
        let (ip, lp) = (dir.join("img"), dir.join("lab"));
        write(&lp, &idx_bytes(LABELS_MAGIC, &[4], &[0, 1, 2, 3]), false);
        // header promising ~3.4 TB (u32::MAX × 28 × 28) in a tiny file, plain and gzipped
        for gz in [false, true] {
            write(
                &ip,
                &idx_bytes(IMAGES_MAGIC, &[u32::MAX, 28, 28], &[7; 100]),
                gz,
            );
            let lbig = dir.join("labbig");
            write(&lbig, &idx_bytes(LABELS_MAGIC, &[u32::MAX], &[1; 10]), gz);
            let e = load_idx_pair(&ip, &lbig).unwrap_err();
            assert!(
                matches!(e, DataError::WrongLength { found: 100, .. }),
                "{e:?}"
            );
        }
        // truncated: 4 images of 2×2 promised, 15 bytes present
        write(&ip, &idx_bytes(IMAGES_MAGIC, &[4, 2, 2], &[1; 15]), false);
        let e = load_idx_pair(&ip, &lp).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::WrongLength {
                    promised: 16,
                    found: 15,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("img"), "{e}");
        // wrong magic (labels file given as images)
        let e = load_idx_pair(&lp, &lp).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::BadMagic {
                    found: LABELS_MAGIC,
                    ..
                }
            ),
            "{e:?}"
        );
        // mismatched counts
        write(&ip, &idx_bytes(IMAGES_MAGIC, &[3, 2, 2], &[1; 12]), true);
        let e = load_idx_pair(&ip, &lp).unwrap_err();
        assert!(
            matches!(
                e,
                DataError::CountMismatch {
                    n_images: 3,
                    n_labels: 4,
                    ..
                }
            ),
            "{e:?}"
        );
        // header cut short
        write(&ip, &IMAGES_MAGIC.to_be_bytes(), false);
        assert!(matches!(
            load_idx_pair(&ip, &lp),
            Err(DataError::BadHeader { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
