//! Figures of run, bench and sweep folders built from small synthetic
//! inputs: each file exists, is a PNG of the expected size with ink inside
//! its panels (or an SVG document), and missing or malformed inputs give
//! errors naming the file, its line and the command that writes it.

use pcchip::chip::{EvalRecord, StepRecord};
use pcchip::circuit::Circuit;
use pcchip::plot::{plot_bench, plot_run, plot_sweep, Format, PlotError};
use pcchip::report::{Derived, Report};
use std::fmt::Write as _;
use std::path::Path;

/// A step record with cosines (when `recorded`) for `n_layers` layers.
fn step_record(step: usize, recorded: bool, n_layers: usize) -> StepRecord {
    let s = step as f64;
    let cos = 0.8 + 0.1 * (s / 40.0).min(1.0);
    serde_json::from_value(serde_json::json!({
        "step": step, "epoch": step / 20,
        "loss": 0.5 * (-s / 30.0).exp() + 0.05 + 0.02 * (s * 1.7).sin(),
        "accuracy": (0.3 + 0.6 * (1.0 - (-s / 25.0).exp())).min(1.0),
        "energy_start": 0.5, "energy_end": 0.45,
        "t_relax_tau": 6.0 + s / 20.0, "t_relax_s": (6.0 + s / 20.0) * 1e-7,
        "stop": "residual", "residual": 0.009,
        "n_integrator_steps": 40, "n_evals": 40,
        "cos_bp": if recorded { Some(cos) } else { None },
        "cos_bp_layers": if recorded {
            Some((0..n_layers).map(|l| cos - 0.03 * l as f64).collect::<Vec<_>>())
        } else { None },
        "t_cos99_tau": null, "n_saturated": 0, "n_stuck": 0, "n_converter_saturated": 0,
        "t_pc_s": 1e-4, "t_bp_s": 5e-5, "e_pc_j": 1e-4, "e_bp_j": 1e-5,
        "speedup": 0.5, "energy_ratio": 0.1
    }))
    .expect("valid step record")
}

/// Writes report.json (60 steps, recorded every 10) and relaxation.csv
/// (traces of the recorded steps, with or without cosines).
fn write_run(dir: &Path, n_layers: usize, with_cos: bool) {
    let circuit = Circuit {
        name: "synthetic".into(),
        ..Default::default()
    };
    let mut report = Report::new(circuit, Derived::default());
    let recorded: Vec<usize> = (1..=60).filter(|s| s % 10 == 1).collect();
    for s in 1..=60 {
        report
            .steps
            .push(step_record(s, with_cos && recorded.contains(&s), n_layers));
    }
    for (i, s) in [20usize, 40, 60].iter().enumerate() {
        for split in ["test", "train"] {
            report.evals.push(EvalRecord {
                step: *s,
                epoch: i,
                split: split.into(),
                loss: 0.3 - 0.05 * i as f64,
                accuracy: Some(0.6 + 0.1 * i as f64),
            });
        }
    }
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_vec_pretty(&report).unwrap(),
    )
    .unwrap();
    let mut csv = String::from("step,t_tau,t_s,energy,kinetic,residual,cos_bp");
    for l in 1..=n_layers {
        write!(csv, ",err_{l}").unwrap();
    }
    csv.push('\n');
    for &s in &recorded {
        let t_stop = 6.0 + s as f64 / 20.0;
        for k in 0..=(t_stop as usize) {
            let t = k as f64;
            let cos = if with_cos {
                format!("{:.6}", 1.0 - 0.4 * (-t / 2.0).exp())
            } else {
                String::new()
            };
            write!(
                csv,
                "{s},{t},{:e},{:e},0,{:e},{cos}",
                t * 1e-7,
                0.4 + 0.1 * (-t / 3.0).exp(),
                (-t / 1.5).exp()
            )
            .unwrap();
            for l in 1..=n_layers {
                let e = if l == n_layers {
                    1.0 - 0.3 * (1.0 - (-t).exp())
                } else {
                    0.05 * l as f64 * (1.0 - (-t / 2.0).exp())
                };
                write!(csv, ",{e:e}").unwrap();
            }
            csv.push('\n');
        }
    }
    std::fs::write(dir.join("relaxation.csv"), csv).unwrap();
}

fn write_bench(dir: &Path) {
    let mut csv = String::from(
        "depth,dynamics,median_t_relax_tau,t_align_tau,t_pc_s,t_bp_s,speedup,energy_ratio\n",
    );
    for d in [2u32, 4, 8, 16, 32, 64] {
        let df = d as f64;
        writeln!(
            csv,
            "{d},first-order,{},{},1e-5,1e-5,{},0.1",
            3.0 * df,
            2.0 * df,
            0.1 * df.sqrt()
        )
        .unwrap();
        writeln!(
            csv,
            "{d},inertial,{},,1e-5,1e-5,{},0.2",
            4.0 * df.sqrt(),
            0.15 * df
        )
        .unwrap();
    }
    std::fs::write(dir.join("bench.csv"), csv).unwrap();
}

/// Two seeds per cell; the cell (64, 4) averages 0.8 and 0.9.
fn write_sweep(dir: &Path) {
    let mut csv = String::from("width,depth,seed,cos_global,t_relax_tau,s_minus_1\n");
    for w in [16u32, 64, 256] {
        for d in [2u32, 4, 8, 16] {
            for seed in 0..2 {
                let c = if (w, d) == (64, 4) {
                    0.8 + 0.1 * seed as f64
                } else {
                    0.99 - 0.02 * d as f64 / (w as f64).sqrt() - 0.001 * seed as f64
                };
                writeln!(csv, "{w},{d},{seed},{c},10,0.1").unwrap();
            }
        }
    }
    std::fs::write(dir.join("sweep.csv"), csv).unwrap();
}

/// Decodes a PNG, checking its signature; returns (width, height, RGB bytes).
fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{}: not a PNG",
        path.display()
    );
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Fraction of coloured pixels (data, not the grey grid, axes or text) in the box [x0, x1) × [y0, y1) given as fractions of the size.
fn ink(img: &(u32, u32, Vec<u8>), (x0, x1): (f64, f64), (y0, y1): (f64, f64)) -> f64 {
    let (w, h, px) = img;
    let (xa, xb) = ((x0 * *w as f64) as usize, (x1 * *w as f64) as usize);
    let (ya, yb) = ((y0 * *h as f64) as usize, (y1 * *h as f64) as usize);
    let mut n = 0;
    for y in ya..yb {
        for x in xa..xb {
            let i = 3 * (y * *w as usize + x);
            let (r, g, b) = (px[i] as i32, px[i + 1] as i32, px[i + 2] as i32);
            if r.max(g).max(b) - r.min(g).min(b) > 40 {
                n += 1;
            }
        }
    }
    n as f64 / ((xb - xa) * (yb - ya)) as f64
}

/// A box as (x range, y range), in fractions of the image size.
type Region = ((f64, f64), (f64, f64));

/// Checks size and that each listed panel box has drawn content.
fn check_png(path: &Path, size: (u32, u32), panels: &[Region]) {
    let img = decode_png(path);
    assert_eq!((img.0, img.1), size, "{}", path.display());
    for p in panels {
        let f = ink(&img, p.0, p.1);
        assert!(
            f > 0.005,
            "{}: panel {p:?} nearly blank ({f})",
            path.display()
        );
    }
}

fn check_svg(path: &Path, must_contain: &[&str]) {
    assert_eq!(path.extension().unwrap(), "svg");
    let s = std::fs::read_to_string(path).unwrap();
    assert!(
        s.contains("<svg") && s.trim_end().ends_with("</svg>"),
        "{}",
        path.display()
    );
    assert!(s.contains("<text"), "{}: no text", path.display());
    for m in must_contain {
        assert!(s.contains(m), "{}: lacks {m:?}", path.display());
    }
}

#[test]
fn run_figures_are_pngs_of_the_expected_size_with_content() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 4, true);
    let files = plot_run(dir.path(), Format::Png).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, ["relaxation.png", "alignment.png", "training.png"]);
    // Top row (energy, residual) and bottom row (error panels) of relaxation.
    check_png(
        &files[0],
        (1800, 1200),
        &[
            ((0.1, 0.45), (0.2, 0.5)),
            ((0.6, 0.95), (0.2, 0.5)),
            ((0.1, 0.95), (0.65, 0.9)),
        ],
    );
    let two_panels = [((0.1, 0.45), (0.25, 0.85)), ((0.6, 0.95), (0.25, 0.85))];
    check_png(&files[1], (1800, 850), &two_panels);
    check_png(&files[2], (1800, 850), &two_panels);
}

#[test]
fn run_figures_as_svg_carry_titles_and_units() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 4, true);
    let files = plot_run(dir.path(), Format::Svg).unwrap();
    assert_eq!(files.len(), 3);
    check_svg(
        &files[0],
        &["Relaxation", "t / τ", "300 ns", "layer 4", "step 1"],
    );
    check_svg(
        &files[1],
        &["cos(PC update, BP gradient)", "training step", "all layers"],
    );
    check_svg(&files[2], &["loss", "accuracy (%)", "test set"]);
}

#[test]
fn run_without_cosines_and_with_many_layers_still_plots() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 12, false);
    let files = plot_run(dir.path(), Format::Png).unwrap();
    assert_eq!(files.len(), 3);
    let svg = plot_run(dir.path(), Format::Svg).unwrap();
    // The colour bar replaces the 12-entry legend; the cosine panels say why they are empty.
    check_svg(&svg[0], &["layer ℓ (depth)"]);
    check_svg(&svg[1], &["no cos_bp"]);
}

#[test]
fn bench_figure_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    write_bench(dir.path());
    let png = plot_bench(dir.path(), Format::Png).unwrap();
    assert_eq!(png.file_name().unwrap(), "speedup.png");
    check_png(
        &png,
        (1800, 850),
        &[((0.1, 0.45), (0.25, 0.85)), ((0.6, 0.95), (0.25, 0.85))],
    );
    let svg = plot_bench(dir.path(), Format::Svg).unwrap();
    check_svg(
        &svg,
        &["first-order", "inertial", "break-even", "depth L (layers)"],
    );
}

#[test]
fn sweep_figure_averages_seeds_and_annotates_cells() {
    let dir = tempfile::tempdir().unwrap();
    write_sweep(dir.path());
    let png = plot_sweep(dir.path(), Format::Png).unwrap();
    assert_eq!(png.file_name().unwrap(), "alignment_grid.png");
    check_png(&png, (1300, 1000), &[((0.15, 0.8), (0.2, 0.85))]);
    let svg = plot_sweep(dir.path(), Format::Svg).unwrap();
    // 0.8 and 0.9 averaged; the axes show the swept values.
    check_svg(
        &svg,
        &["\n0.850\n", "\n256\n", "\n16\n", "width n", "2 seed(s)"],
    );
}

#[test]
fn missing_inputs_name_the_file_and_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(PlotError, &str, &str); 3] = [
        (
            plot_run(dir.path(), Format::Png).unwrap_err(),
            "report.json",
            "pcchip run",
        ),
        (
            plot_bench(dir.path(), Format::Png).unwrap_err(),
            "bench.csv",
            "pcchip bench",
        ),
        (
            plot_sweep(dir.path(), Format::Svg).unwrap_err(),
            "sweep.csv",
            "pcchip sweep",
        ),
    ];
    for (err, file, command) in cases {
        assert!(matches!(err, PlotError::Missing { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(file) && msg.contains(command), "{msg}");
    }
    // A run folder with its report but no trace names relaxation.csv.
    write_run(dir.path(), 3, true);
    std::fs::remove_file(dir.path().join("relaxation.csv")).unwrap();
    let msg = plot_run(dir.path(), Format::Png).unwrap_err().to_string();
    assert!(
        msg.contains("relaxation.csv") && msg.contains("pcchip run"),
        "{msg}"
    );
}

#[test]
fn malformed_csv_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let header =
        "depth,dynamics,median_t_relax_tau,t_align_tau,t_pc_s,t_bp_s,speedup,energy_ratio\n";
    std::fs::write(
        dir.path().join("bench.csv"),
        format!("{header}2,inertial,3,,1,1,0.5,0.1\n4,inertial,x3,,1,1,0.5,0.1\n"),
    )
    .unwrap();
    let msg = plot_bench(dir.path(), Format::Png).unwrap_err().to_string();
    assert!(msg.contains("bench.csv:3") && msg.contains("x3"), "{msg}");

    std::fs::write(
        dir.path().join("sweep.csv"),
        "width,depth,seed,cos_global,t_relax_tau,s_minus_1\n16,2,0,0.9,1,0\n\n16,4,0\n",
    )
    .unwrap();
    let msg = plot_sweep(dir.path(), Format::Png).unwrap_err().to_string();
    assert!(
        msg.contains("sweep.csv:4") && msg.contains("3 fields"),
        "{msg}"
    );

    std::fs::write(
        dir.path().join("sweep.csv"),
        "width,depth,cos_global\n16,2,0.9\n",
    )
    .unwrap();
    let msg = plot_sweep(dir.path(), Format::Png).unwrap_err().to_string();
    assert!(msg.contains("sweep.csv:1") && msg.contains("seed"), "{msg}");

    write_run(dir.path(), 2, true);
    let mut csv = std::fs::read_to_string(dir.path().join("relaxation.csv")).unwrap();
    csv.push_str("71,1,1e-7,abc,0,1,,0.1,0.2\n");
    let n_lines = csv.lines().count();
    std::fs::write(dir.path().join("relaxation.csv"), csv).unwrap();
    let msg = plot_run(dir.path(), Format::Png).unwrap_err().to_string();
    assert!(
        msg.contains(&format!("relaxation.csv:{n_lines}")) && msg.contains("energy"),
        "{msg}"
    );
}

/// Draws every figure into `$PCCHIP_PLOT_OUT` for a look, from synthetic inputs
/// and, when `$PCCHIP_SAMPLE_RUN` names a run folder, from that run too:
/// `PCCHIP_PLOT_OUT=/tmp/figs cargo test --test plot -- --ignored`.
#[test]
#[ignore]
fn draw_figures_for_inspection() {
    let out = std::path::PathBuf::from(std::env::var("PCCHIP_PLOT_OUT").expect("PCCHIP_PLOT_OUT"));
    for (name, layers, cos) in [("run4", 4, true), ("run12", 12, false)] {
        let d = out.join(name);
        std::fs::create_dir_all(&d).unwrap();
        write_run(&d, layers, cos);
        plot_run(&d, Format::Png).unwrap();
        plot_run(&d, Format::Svg).unwrap();
    }
    let d = out.join("bench");
    std::fs::create_dir_all(&d).unwrap();
    write_bench(&d);
    plot_bench(&d, Format::Png).unwrap();
    let d = out.join("sweep");
    std::fs::create_dir_all(&d).unwrap();
    write_sweep(&d);
    plot_sweep(&d, Format::Png).unwrap();
    plot_sweep(&d, Format::Svg).unwrap();
    if let Ok(sample) = std::env::var("PCCHIP_SAMPLE_RUN") {
        let d = out.join("sample");
        std::fs::create_dir_all(&d).unwrap();
        for f in ["report.json", "relaxation.csv"] {
            std::fs::copy(Path::new(&sample).join(f), d.join(f)).unwrap();
        }
        plot_run(&d, Format::Png).unwrap();
    }
}
