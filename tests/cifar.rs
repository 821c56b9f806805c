//! The CIFAR-10 binary reader on small files the test writes: record
//! layout (label byte, then the R, G, B planes = the channel-major C×H×W
//! column), pixel scaling, the folder's file order, one-hot over 10 classes,
//! and located errors for truncated files, bad labels and empty folders;
//! then a circuit with `data.source = "cifar10"` through `pcchip check`.

use pcchip::data::cifar::{load_cifar10, IMAGE_SHAPE, N_CLASSES};
use std::path::Path;
use std::process::Command;

const PIXELS: usize = 3072;

/// A record: `label`, then pixel byte p = (seed + 7p) mod 256.
fn record(label: u8, seed: usize) -> Vec<u8> {
    let mut r = vec![label];
    r.extend((0..PIXELS).map(|p| ((seed + 7 * p) % 256) as u8));
    r
}

fn write(path: &Path, records: &[(u8, usize)]) {
    let bytes: Vec<u8> = records.iter().flat_map(|&(l, s)| record(l, s)).collect();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_folder_reads_its_batches_in_order_with_pixels_scaled_channel_major() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("test_batch.bin"), &[(9, 50), (0, 60)]);
    write(&dir.path().join("data_batch_2.bin"), &[(4, 40)]);
    write(
        &dir.path().join("data_batch_1.bin"),
        &[(3, 10), (7, 20), (1, 30)],
    );
    std::fs::write(dir.path().join("batches.meta.txt"), "airplane\n").unwrap();
    let d = load_cifar10(dir.path()).expect("load");
    assert_eq!(IMAGE_SHAPE, [3, 32, 32]);
    assert_eq!(d.len(), 6);
    assert_eq!(d.n_features(), PIXELS);
    assert_eq!(d.labels.as_deref(), Some(&[3, 7, 1, 4, 9, 0][..]));
    assert_eq!(d.y.nrows(), N_CLASSES);
    for (j, &l) in [3usize, 7, 1, 4, 9, 0].iter().enumerate() {
        for c in 0..N_CLASSES {
            assert_eq!(d.y[(c, j)], if c == l { 1.0 } else { 0.0 });
        }
    }
    // Sample 1 (data_batch_1's second record, seed 20): pixel (c, i, j) is
    // byte 1 + c·1024 + i·32 + j of its record, scaled by 1/255.
    for (c, i, j) in [(0, 0, 0), (1, 5, 7), (2, 31, 31)] {
        let p = c * 1024 + i * 32 + j;
        let want = ((20 + 7 * p) % 256) as f64 / 255.0;
        assert_eq!(d.x[(p, 1)], want, "pixel ({c}, {i}, {j})");
    }
    assert!(d.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    // A single batch file reads alone.
    let one = load_cifar10(&dir.path().join("data_batch_2.bin")).expect("one file");
    assert_eq!(one.labels.as_deref(), Some(&[4][..]));
    assert_eq!(one.y.nrows(), N_CLASSES);
}

#[test]
fn bad_files_are_refused_naming_file_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("data_batch_1.bin");
    let mut bytes = record(1, 0);
    bytes.extend(&record(2, 1)[..100]);
    std::fs::write(&f, &bytes).unwrap();
    let e = load_cifar10(&f).unwrap_err().to_string();
    assert!(
        e.contains("data_batch_1.bin") && e.contains("whole number of CIFAR-10 records"),
        "{e}"
    );

    write(&f, &[(1, 0), (12, 1)]);
    let e = load_cifar10(dir.path()).unwrap_err().to_string();
    assert!(e.contains("record 2") && e.contains("label 12"), "{e}");

    std::fs::write(&f, b"").unwrap();
    assert!(load_cifar10(&f)
        .unwrap_err()
        .to_string()
        .contains("0 bytes"));

    let empty = tempfile::tempdir().unwrap();
    let e = load_cifar10(empty.path()).unwrap_err().to_string();
    assert!(e.contains("none of CIFAR-10's batch files"), "{e}");
    let e = load_cifar10(&dir.path().join("missing.bin"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing.bin") && e.contains("cannot read"),
        "{e}"
    );
}

fn pcchip(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pcchip"))
        .args(args)
        .output()
        .expect("run pcchip")
}

#[test]
fn a_cifar10_circuit_checks_on_its_data_and_names_the_missing_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cifar");
    std::fs::create_dir(&data).unwrap();
    let recs: Vec<(u8, usize)> = (0..20).map(|k| ((k % 10) as u8, k)).collect();
    write(&data.join("data_batch_1.bin"), &recs);
    let c = dir.path().join("c.toml");
    std::fs::write(
        &c,
        "[network]\nwidth = 16\ndepth = 2\n[data]\nsource = \"cifar10\"\ncifar10 = \"cifar\"\n[train]\nbatch_size = 4\n",
    )
    .unwrap();
    let out = pcchip(&["check", c.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("[3072, 16, 10]"), "{text}");

    std::fs::write(&c, "[data]\nsource = \"cifar10\"\n").unwrap();
    let out = pcchip(&["check", c.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("data.cifar10"));
}
